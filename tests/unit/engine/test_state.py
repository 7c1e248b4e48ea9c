"""User state: round-trips through its bytes, refuses unknown versions, and stays bounded."""

from __future__ import annotations

import orjson
import pytest

from streams.engine import StateDecodeError, UserState
from streams.engine.features import compute_features
from streams.policy import FEATURES
from tests.unit.engine.builders import Timeline


def test_state_round_trips_through_bytes() -> None:
    user = Timeline()
    user.open(invited=["installment_loan"])
    user.buy("10", event_id="p-1")
    user.borrow("cash_loan", "600")
    user.at(days=2).repay("bnpl", "5")
    assert user.state is not None
    again = UserState.from_bytes(user.state.to_bytes())
    assert again == user.state


@pytest.mark.parametrize("raw", [b'[3, "u"]', b'[2, "u"]', b'[1, "u"]', b"{}", b"not json", b"[]"])
def test_unknown_state_bytes_are_refused_with_a_reason(raw: bytes) -> None:
    with pytest.raises(StateDecodeError):
        UserState.from_bytes(raw)


def test_a_version_1_state_is_read_as_having_applied_no_offset() -> None:
    """States stored before input_offset existed stay readable: dedupe falls back to the id memory."""
    user = Timeline()
    user.open()
    user.buy("10")
    assert user.state is not None
    user.state.input_offset = 41
    current = orjson.loads(user.state.to_bytes())
    assert current[0] == 2 and current[-1] == 41
    old = orjson.dumps([1, *current[1:-1]])
    again = UserState.from_bytes(old)
    assert again.input_offset == -1
    again.input_offset = 41
    assert again == user.state


def test_memories_and_windows_stay_bounded() -> None:
    user = Timeline()
    user.open(income="30000")
    memory = user.policy.memory
    for _ in range(400):
        user.at(hours=12).buy("1", funding="own")
        user.sale("1")
    assert user.state is not None
    assert len(user.state.seen) == memory.event_ids
    assert len(user.state.purchases) == memory.purchases
    long_days = user.policy.windows.long_days
    assert len(user.state.spend) <= long_days and len(user.state.sales) <= long_days
    size = len(user.state.to_bytes())
    for _ in range(400):
        user.at(hours=12).buy("1", funding="own")
        user.sale("1")
    # Twice the history, about the same size: nothing grows without bound.
    assert len(user.state.to_bytes()) <= size * 1.1


def test_the_engine_computes_exactly_the_features_a_policy_may_name() -> None:
    user = Timeline()
    user.open()
    assert user.state is not None
    assert set(compute_features(user.state, user.policy, sales=0)) == set(FEATURES)
    assert {factor.feature for factor in user.policy.score.factors} <= set(FEATURES)
