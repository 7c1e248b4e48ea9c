"""User state: round-trips through its bytes, refuses unknown versions, and stays bounded."""

from __future__ import annotations

import gc
from datetime import datetime, timedelta, timezone
from typing import Any, cast

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.outputs import Reason
from streams.engine import StateDecodeError, UserState
from streams.engine.features import compute_features, epoch_seconds
from streams.engine.state import (
    DecisionRecord,
    decision_entry,
    decision_outcome,
    decision_record,
    purchase_day,
    purchase_entry,
    purchase_record,
)
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


def test_kept_decisions_and_purchases_are_never_seen_by_the_cycle_collector() -> None:
    # A worker holds thousands of states, and a young collection scans every tracked object made
    # since the last one: a kept record the collector tracks, even until its first collection
    # (a tuple), is scanned again for every user changed meanwhile (issue 33). Text never is, nor
    # a dict that holds only text, from the moment it is made.
    user = Timeline()
    user.open()
    user.buy("10", event_id="p-1")
    user.refund("p-1", "4")
    user.borrow("cash_loan", "600")
    assert user.state is not None
    for state in (user.state, UserState.from_bytes(user.state.to_bytes())):
        assert len(state.purchases) == 1 and len(state.decisions) == 2
        assert purchase_record(state.purchases["p-1"])[:2] == (1000, 400)  # amount and refunded, fen
        records = [*state.decisions.values(), *state.purchases.values()]
        assert [r for r in records if type(r) is not str] == []
        assert not gc.is_tracked(state.decisions) and not gc.is_tracked(state.purchases)


def test_a_kept_decision_reads_back_as_it_was_kept() -> None:
    user = Timeline()
    user.open(invited=["installment_loan"])
    user.at(days=1).borrow("cash_loan", "600", term=3, event_id="loan-1")
    user.buy("999999", event_id="big-1")
    assert user.state is not None
    approved, declined = (decision_record(user.state.decisions[key]) for key in ("loan-1", "big-1"))
    assert approved[:2] == ("cash_loan", "approved") and approved[2] == 60_000 and approved[5] == 3
    assert declined[:2] == ("bnpl", "declined") and declined[5] is None and declined[6] != ()
    assert decision_outcome(user.state.decisions["big-1"]) == "declined"


@given(
    st.tuples(
        st.sampled_from(["bnpl", "cash_loan"]),
        st.sampled_from(["approved", "partial", "declined"]),
        st.integers(min_value=0, max_value=10**15),
        st.integers(min_value=0, max_value=10**15),
        st.sampled_from(["0", "0.1800", "0.24"]),
        st.none() | st.integers(min_value=1, max_value=36),
        st.lists(st.sampled_from([str(reason) for reason in Reason]), max_size=4).map(tuple),
        st.none() | st.integers(min_value=0, max_value=1000),
        st.integers(min_value=0, max_value=10**15),
        st.integers(min_value=-(10**15), max_value=10**15),
        st.sampled_from(["2026-12-07T10:00:00+08:00", "2000-01-01T00:00:00.500000+00:00"]),
        st.text(min_size=1, max_size=64),
    )
)
def test_every_kept_decision_reads_back_whole_whatever_its_policy_version(record: Any) -> None:
    """The policy version is free text (it may hold the separator): it is the last field."""
    assert decision_record(decision_entry(cast(DecisionRecord, record))) == record


@given(
    st.integers(min_value=0, max_value=10**15),
    st.integers(min_value=0, max_value=10**15),
    st.sampled_from([0, 1]),
    st.integers(min_value=-(10**6), max_value=10**6),
)
def test_every_kept_purchase_reads_back_whole(amount: int, refunded: int, by_credit: int, day: int) -> None:
    entry = purchase_entry((amount, refunded, by_credit, day))
    assert purchase_record(entry) == (amount, refunded, by_credit, day)
    assert purchase_day(entry) == day


@pytest.mark.parametrize("entry", ["bnpl|approved", "1|2|3"])
def test_a_kept_record_with_missing_fields_is_refused_with_a_reason(entry: str) -> None:
    with pytest.raises(StateDecodeError, match="fields, not"):
        decision_record(entry) if "bnpl" in entry else purchase_record(entry)


@pytest.mark.parametrize(
    "raw",
    [b'[6, "u"]', b'[5, "u"]', b'[4, "u"]', b'[3, "u"]', b'[2, "u"]', b'[1, "u"]', b"{}", b"not json", b"[]"],
)
def test_unknown_state_bytes_are_refused_with_a_reason(raw: bytes) -> None:
    with pytest.raises(StateDecodeError):
        UserState.from_bytes(raw)


def test_older_state_versions_stay_readable() -> None:
    """States stored by versions 1 to 5 still read: no input_offset (v1), no cured_default_day
    (v1, v2), one (worst days past due, day) pair instead of the delinquency peaks (v1 to v3), the
    repayment record of the user as a whole (v1 to v4), read as bnpl's (a merchant's: its business
    loan's), and the kept decisions and purchases as arrays (v1 to v5), read as text."""
    user = Timeline()
    user.open(income="30000")
    user.buy("10", event_id="p-1")
    user.refund("p-1", "4")
    user.at(days=1).borrow("cash_loan", "600")
    assert user.state is not None
    user.state.input_offset = 41
    user.state.cured_default_day = 19_800
    current = orjson.loads(user.state.to_bytes())
    assert current[0] == 6 and current[25:27] == [41, 19_800]
    # Version 5: the same fields, each kept decision and purchase an array, [[event id, array], ...].
    decisions_v5 = [[key, list(decision_record(entry))] for key, entry in current[23].items()]
    purchases_v5 = [[key, list(purchase_record(entry))] for key, entry in current[24].items()]
    assert purchases_v5 == [["p-1", [1000, 400, 1, purchases_v5[0][1][3]]]]
    current[23:25] = [decisions_v5, purchases_v5]
    assert UserState.from_bytes(orjson.dumps([5, *current[1:]])) == user.state
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
