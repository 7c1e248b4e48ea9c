"""Record lines (`dump --records`): a Kafka record survives the trip through JSONL exactly."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from streams.processing import Message
from streams.records import RECORD_PREFIX, RecordLineError, encode_record, message_from_record_line


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (b"u-1", b'{"type":"sale"}'),
        (None, b"\xff\xfe not utf-8 \x00"),
        (b"\xc3\x28", b""),  # a key that is not UTF-8
        (b"u-2", None),  # a tombstone
        (b"u-3", b'{"a":"line\\nbreak"}\n'),  # a newline byte stays in the value, the line stays one line
    ],
)
def test_a_record_line_gives_back_the_record(key: bytes | None, value: bytes | None) -> None:
    record = SimpleNamespace(
        topic="p.credit.events", partition=3, offset=41, timestamp=1_772_330_400_123, key=key, value=value
    )
    line = encode_record(record, partitions=8)
    assert line.startswith(RECORD_PREFIX) and b"\n" not in line
    assert message_from_record_line(line) == Message(
        "p.credit.events", 3, 41, key, value, 1_772_330_400.123, 8
    )


@pytest.mark.parametrize(
    "line",
    [
        b'{"record": {"topic": "t"}}',
        b'{"record": 5, "value": null}',
        b'{"record": {"topic"',
        b'{"record": {}}',
    ],
)
def test_a_broken_record_line_says_so(line: bytes) -> None:
    with pytest.raises(RecordLineError, match="not a valid record line"):
        message_from_record_line(line)
