"""streams.processing.process: one message through the engine, and its promise never to raise.

A bug, or stored state this version cannot read, must become a dead letter of its own kind that
says what happened, never an exception that stops the stream or loses the message.
"""

from __future__ import annotations

import orjson
import pytest

from schemas.topics import DEAD_LETTER, DECISIONS
from streams.engine import UserState
from streams.policy import default_policy
from streams.processing import Message, process

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


def test_a_bug_in_the_engine_becomes_an_internal_error_dead_letter() -> None:
    def broken_store(user_id: str) -> UserState | None:
        raise RuntimeError(f"the store fell over reading {user_id}")

    step = process(message(), broken_store, default_policy())
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
        (orjson.dumps([99, "u-1"]), "stored state version 99 is not one of (1, 2)"),
        (orjson.dumps({"user_id": "u-1"}), "stored state version None is not one of (1, 2)"),
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
