"""Kafka records as JSONL lines, so that replay sees exactly what the worker saw.

`creditstream dump credit.events --records` writes one line per record:

    {"record": {"topic": "credit.events", "partition": 3, "partitions": 8, "offset": 41,
                "timestamp_ms": 1772330400000, "key": "u-1"}, "value": "{...the event...}"}

The value is the record's bytes as text, or base64 (``"value_encoding": "base64"``) when they are
not UTF-8; the key likewise (``"key_encoding"``). `creditstream replay` reads such lines as the
records they were, so the envelope checks (key, partition, date against the record's timestamp)
and the offset dedupe run as they ran live, and dead letters name the same positions.
"""

from __future__ import annotations

import base64
from typing import Any, Final

import orjson

from schemas.codec import bytes_as_text
from streams.processing import Message

__all__ = ["RECORD_PREFIX", "RecordLineError", "encode_record", "message_from_record_line"]

RECORD_PREFIX: Final = b'{"record":'


class RecordLineError(ValueError):
    """A line that starts like a record line but is not one."""


def encode_record(record: Any, partitions: int) -> bytes:
    """One kafka-python ConsumerRecord as a record line (no trailing newline)."""
    envelope: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "partitions": partitions,
        "offset": record.offset,
        "timestamp_ms": record.timestamp,
        "key": None,
    }
    if record.key is not None:
        envelope["key"], key_encoding = bytes_as_text(record.key)
        if key_encoding != "utf-8":
            envelope["key_encoding"] = key_encoding
    line: dict[str, Any] = {"record": envelope, "value": None}
    if record.value is not None:
        line["value"], value_encoding = bytes_as_text(record.value)
        if value_encoding != "utf-8":
            line["value_encoding"] = value_encoding
    return orjson.dumps(line)


def _bytes(text: Any, encoding: Any, what: str) -> bytes | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise RecordLineError(f"record line: {what} must be text or null")
    return base64.b64decode(text) if encoding == "base64" else text.encode("utf-8")


def message_from_record_line(line: bytes) -> Message:
    """The Message a record line describes; RecordLineError says what is wrong with it."""
    try:
        document = orjson.loads(line)
        envelope = document["record"]
        timestamp_ms = envelope.get("timestamp_ms")
        return Message(
            topic=str(envelope["topic"]),
            partition=int(envelope["partition"]),
            offset=int(envelope["offset"]),
            key=_bytes(envelope.get("key"), envelope.get("key_encoding"), "key"),
            value=_bytes(document.get("value"), document.get("value_encoding"), "value"),
            timestamp=timestamp_ms / 1000 if timestamp_ms is not None else None,
            partitions=int(envelope["partitions"]) if envelope.get("partitions") else None,
        )
    except RecordLineError:
        raise
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RecordLineError(f"not a valid record line: {type(exc).__name__}: {exc}") from exc
