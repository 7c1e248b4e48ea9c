"""streams.processing.process: one message through the engine, and its promise never to raise.

A bug, or stored state this version cannot read, must become a dead letter of its own kind that
says what happened, never an exception that stops the stream or loses the message.
"""

from __future__ import annotations

import logging

import orjson
import pytest

from schemas.codec import MAX_KEY_BYTES, MAX_RAW_BYTES
from schemas.topics import DEAD_LETTER, DECISIONS
from streams.engine import UserState
from streams.policy import default_policy
from streams.processing import Message, Step, expected_partition, process

PURCHASE = orjson.dumps(
    {
        "type": "purchase",
        "event_id": "p-1",
        "user_id": "u-1",
        "occurred_at": "2026-03-01T10:00:00+08:00",
        "amount": "100.00",
        "merchant_id": "m-1",
        "merchant_category": "grocery",
        "funding": "credit",
    }
)


def message(value: bytes = PURCHASE) -> Message:
    return Message("credit.transactions", 3, 41, b"u-1", value, 1_772_330_400.0)


def test_a_good_purchase_is_decided() -> None:
    step = process(message(), lambda _: None, default_policy())
    assert step.dead_letter_kind is None
    assert step.state is not None and step.state.user_id == "u-1"
    assert step.outputs[0][0] == DECISIONS.name


def test_a_bug_in_the_engine_becomes_an_internal_error_dead_letter(caplog: pytest.LogCaptureFixture) -> None:
    def broken_store(user_id: str) -> UserState | None:
        raise RuntimeError(f"the store fell over reading {user_id}")

    with caplog.at_level(logging.INFO):
        step = process(message(), broken_store, default_policy())
    assert "internal error on credit.transactions[3]@41: RuntimeError" in caplog.text
    assert "u-1" not in caplog.text  # the exception's text may name the user: not above DEBUG
    assert step.dead_letter_kind == "internal_error"
    assert step.state is None  # nothing is stored for a message that could not be applied
    ((topic, record),) = step.outputs
    assert topic == DEAD_LETTER.name
    letter = orjson.loads(record)
    assert letter["error"] == "internal error: RuntimeError: the store fell over reading u-1"
    assert (letter["source_topic"], letter["partition"], letter["offset"]) == ("credit.transactions", 3, 41)
    assert letter["key"] == "u-1"


@pytest.mark.parametrize(
    ("stored", "words"),
    [
        (b"\xff not json", "stored state is not JSON"),
        (orjson.dumps([99, "u-1"]), "stored state version 99 is not one of (1, 2, 3, 4, 5, 6)"),
        (orjson.dumps({"user_id": "u-1"}), "stored state version None is not one of (1, 2, 3, 4, 5, 6)"),
    ],
)
def test_stored_state_this_version_cannot_read_becomes_a_state_unreadable_dead_letter(
    stored: bytes, words: str
) -> None:
    step = process(message(), lambda _: UserState.from_bytes(stored), default_policy())
    assert step.dead_letter_kind == "state_unreadable"
    assert step.state is None  # the unreadable state is left as it was, never overwritten
    ((topic, record),) = step.outputs
    assert topic == DEAD_LETTER.name
    error = orjson.loads(record)["error"]
    assert error.startswith("the user's stored state cannot be read: ") and words in error


# -- the envelope: key, partition, dates ----------------------------------------------------------

PARTITIONS = 8


def live(value: bytes = PURCHASE, *, key: bytes | None = b"u-1", partition: int | None = None,
         offset: int = 41, timestamp: float | None = 1_772_330_400.0) -> Message:  # fmt: skip
    """A Kafka record as the worker sees it (on murmur2's partition for its key unless told)."""
    if partition is None:
        partition = expected_partition(key or b"u-1", PARTITIONS)
    return Message("credit.events", partition, offset, key, value, timestamp, PARTITIONS)


def kind_and_error(step: Step) -> tuple[str | None, str]:
    errors = [orjson.loads(record)["error"] for topic, record in step.outputs if topic == DEAD_LETTER.name]
    return step.dead_letter_kind, errors[0] if errors else ""


def test_a_record_on_its_keys_partition_is_applied() -> None:
    step = process(live(), lambda _: None, default_policy())
    assert step.dead_letter_kind is None and step.state is not None
    assert step.state.input_offset == 41


def test_a_record_without_a_key_is_refused() -> None:
    kind, error = kind_and_error(process(live(key=None, partition=0), lambda _: None, default_policy()))
    assert kind == "key_missing" and "must be keyed by its user_id ('u-1')" in error


def test_a_record_keyed_by_someone_else_is_refused() -> None:
    kind, error = kind_and_error(process(live(key=b"u-2"), lambda _: None, default_policy()))
    assert kind == "key_mismatch" and "key 'u-2' does not match user_id 'u-1'" in error


def test_a_record_off_its_keys_murmur2_partition_names_the_producer_setting() -> None:
    right = expected_partition(b"u-1", PARTITIONS)
    step = process(live(partition=(right + 1) % PARTITIONS), lambda _: None, default_policy())
    kind, error = kind_and_error(step)
    assert kind == "wrong_partition"
    assert f"belongs on partition {right} of {PARTITIONS}" in error and "partitioner=murmur2_random" in error


@pytest.mark.parametrize(
    ("key", "java_murmur2"),
    [  # Kafka's own UtilsTest.testMurmur2 vectors: what the Java client's partitioner hashes
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (b"abc", 479470107),
    ],
)
def test_the_expected_partition_is_the_java_clients(key: bytes, java_murmur2: int) -> None:
    # Java: Utils.toPositive(Utils.murmur2(key)) % numPartitions
    for partitions in (1, 8, 12, 2**31 - 1):
        assert expected_partition(key, partitions) == (java_murmur2 & 0x7FFFFFFF) % partitions


@pytest.mark.parametrize(
    ("occurred_at", "words"),
    [
        ("1999-12-31T23:59:59Z", "outside the plausible range 2000-01-01 to 2099-12-31"),
        ("2100-01-01T00:00:00Z", "outside the plausible range 2000-01-01 to 2099-12-31"),
        ("9999-12-31T00:00:00Z", "outside the plausible range"),
        ("2026-03-03T10:00:00+08:00", "hours after the record's Kafka timestamp"),  # 2 days ahead
    ],
)
def test_an_implausible_date_is_refused(occurred_at: str, words: str) -> None:
    value = orjson.dumps({**orjson.loads(PURCHASE), "occurred_at": occurred_at})
    kind, error = kind_and_error(process(live(value), lambda _: None, default_policy()))
    assert kind == "implausible_date" and words in error, error


def test_an_event_a_few_hours_ahead_of_its_record_or_long_before_it_is_applied() -> None:
    for occurred_at in ("2026-03-01T20:00:00+08:00", "2024-06-01T10:00:00+08:00"):
        value = orjson.dumps({**orjson.loads(PURCHASE), "occurred_at": occurred_at})
        assert process(live(value), lambda _: None, default_policy()).dead_letter_kind is None


def test_a_plain_replay_line_has_no_envelope_to_check() -> None:
    future = orjson.dumps({**orjson.loads(PURCHASE), "occurred_at": "2030-01-01T00:00:00Z"})
    step = process(Message("replay", None, 1, None, future), lambda _: None, default_policy())
    assert step.dead_letter_kind is None  # no key, partition or record timestamp to hold it to


# -- redelivery by offset ------------------------------------------------------------------------


def test_a_record_at_or_below_the_applied_offset_changes_and_sends_nothing() -> None:
    first = process(live(offset=41), lambda _: None, default_policy())
    assert first.state is not None and first.outputs
    for offset in (41, 7):
        again = process(live(offset=offset), lambda _: first.state, default_policy())
        assert again.redelivered and again.duplicate and again.outputs == [] and again.state is None


def test_the_same_event_at_a_new_offset_is_a_producer_duplicate_and_resends_its_decision() -> None:
    first = process(live(offset=41), lambda _: None, default_policy())
    again = process(live(offset=42), lambda _: first.state, default_policy())
    assert again.duplicate and not again.redelivered
    assert [record for _, record in again.outputs] == [first.outputs[0][1]]  # the same decision


# -- dead letters always fit ---------------------------------------------------------------------


def test_a_dead_letter_is_bounded_whatever_came_in() -> None:
    huge = b'{"x":"' + b"y" * 500_000 + b'"}'
    step = process(
        Message("credit.events", 0, 1, b"k" * 5000, huge, None, None), lambda _: None, default_policy()
    )
    letter = orjson.loads(step.outputs[0][1])
    assert letter["raw_truncated"] is True and len(letter["raw"]) == MAX_RAW_BYTES
    assert f"[message of {len(huge)} bytes; raw keeps the first {MAX_RAW_BYTES}]" in letter["error"]
    assert len(letter["key"]) == MAX_KEY_BYTES
    assert len(step.outputs[0][1]) < 80_000
