"""User state: round-trips through its bytes, refuses unknown versions, and stays bounded."""

from __future__ import annotations

import gc
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.engine import StateDecodeError, UserState
from streams.engine.features import compute_features, epoch_seconds
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


def test_kept_decisions_and_purchases_are_left_alone_by_the_cycle_collector() -> None:
    # A worker holds thousands of states: each record the collector must keep tracking is scanned
    # at every young collection (a NamedTuple stays tracked for good; a plain tuple of numbers and
    # text is untracked at its first collection), and to_bytes would go through a Python callback.
    user = Timeline()
    user.open()
    user.buy("10", event_id="p-1")
    user.refund("p-1", "4")
    user.borrow("cash_loan", "600")
    assert user.state is not None
    for state in (user.state, UserState.from_bytes(user.state.to_bytes())):
        records = [*state.decisions.values(), *state.purchases.values()]
        assert len(state.purchases) == 1 and len(state.decisions) == 2
        assert state.purchases["p-1"][:2] == (1000, 400)  # amount and refunded, fen
        gc.collect()
        assert [r for r in records if type(r) is not tuple or gc.is_tracked(r)] == []


@pytest.mark.parametrize(
    "raw", [b'[5, "u"]', b'[4, "u"]', b'[3, "u"]', b'[2, "u"]', b'[1, "u"]', b"{}", b"not json", b"[]"]
)
def test_unknown_state_bytes_are_refused_with_a_reason(raw: bytes) -> None:
    with pytest.raises(StateDecodeError):
        UserState.from_bytes(raw)


def test_older_state_versions_stay_readable() -> None:
    """States stored by versions 1 to 4 still read: no input_offset (v1), no cured_default_day
    (v1, v2), one (worst days past due, day) pair instead of the delinquency peaks (v1 to v3), and
    the repayment record of the user as a whole (v1 to v4), read as bnpl's (a merchant's: its
    business loan's)."""
    user = Timeline()
    user.open()
    user.buy("10")
    assert user.state is not None
    user.state.input_offset = 41
    user.state.cured_default_day = 19_800
    current = orjson.loads(user.state.to_bytes())
    assert current[0] == 5 and current[25:27] == [41, 19_800]
    # Version 4: one peaks list, one on-time count and late days for the whole user.
    version_4_fields = [*current[1:15], [[19_700, 90]], 3, [19_750], *current[18:25]]
    version_4 = UserState.from_bytes(orjson.dumps([4, *version_4_fields, 41, 19_800]))
    assert version_4.delinquency_peaks == [[[19_700, 90]], [], [], []]
    assert version_4.on_time == [3, 0, 0, 0]
    assert version_4.late_repayments == [[19_750, 0]]
    assert (version_4.input_offset, version_4.cured_default_day) == (41, 19_800)
    assert (version_4.score, version_4.limits, version_4.spend) == (
        user.state.score,
        user.state.limits,
        user.state.spend,
    )
    # Versions 1 to 3 kept the worst and its day at positions 15 and 16.
    older = [*current[1:15], 90, 19_700, *version_4_fields[15:]]
    version_1 = UserState.from_bytes(orjson.dumps([1, *older]))
    version_2 = UserState.from_bytes(orjson.dumps([2, *older, 41]))
    version_3 = UserState.from_bytes(orjson.dumps([3, *older, 41, 19_800]))
    assert (version_1.input_offset, version_1.cured_default_day) == (-1, -1)
    assert (version_2.input_offset, version_2.cured_default_day) == (41, -1)
    assert version_3 == version_4
    assert version_1.delinquency_peaks == version_2.delinquency_peaks == [[[19_700, 90]], [], [], []]
    no_delinquency = UserState.from_bytes(
        orjson.dumps([3, *current[1:15], 0, 0, *version_4_fields[15:], 41, 0])
    )
    assert no_delinquency.delinquency_peaks == [[], [], [], []]


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
    assert set(compute_features(user.state, user.policy, 0, (0, 1, 2))) == set(FEATURES)
    merchant_card = user.policy.merchant_score
    assert merchant_card is not None
    assert {factor.feature for factor in user.policy.score.factors + merchant_card.factors} <= set(FEATURES)


@given(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),
    st.integers(min_value=-(24 * 3600 - 1), max_value=24 * 3600 - 1),
    st.integers(min_value=0, max_value=999_999),
)
def test_epoch_seconds_is_the_timestamp_truncated(moment: datetime, offset: int, micros: int) -> None:
    """The engine's own arithmetic gives what ``int(datetime.timestamp())`` gives, before 1970 too,
    and for offsets with seconds and microseconds."""
    zone = timezone(timedelta(seconds=offset, microseconds=micros if abs(offset) < 24 * 3600 - 1 else 0))
    aware = moment.replace(tzinfo=zone)
    assert epoch_seconds(aware) == int(aware.timestamp())
