"""Properties that hold for any sequence of events (hypothesis): balances, guardrails, idempotency,
determinism, cuts only on risk, offers that agree with limits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.codec import encode
from schemas.events import PRODUCTS, Event
from schemas.outputs import Decision, LimitChanged
from streams.engine import Applied, UserState, apply
from streams.engine.apply import EngineOutput
from streams.policy import Policy, default_policy
from tests.unit.engine.builders import RISK_CUTS, START, Timeline, event, policy_with

POLICY = default_policy()
USERS = ("u-a", "u-b")
fen_amounts = st.one_of(
    st.integers(min_value=1, max_value=800_000),  # everyday amounts, up to 8,000 yuan
    st.integers(min_value=500_000, max_value=6_000_000),  # loan-sized, up to 60,000 yuan
)
amounts = fen_amounts.map(lambda fen: f"{fen // 100}.{fen % 100:02d}")
# A policy whose limits exceed the regulatory caps, so that the caps are what binds.
GENEROUS = policy_with(
    {
        "products": {
            "cash_loan": {
                "limit_tiers": [{"min_score": 350, "limit": 200000}],
                "income_multiple": "100",
                "no_income_limit": 200000,
                "min_score": 350,
                "apr_tiers": [{"min_score": 350, "apr": "0.2400"}, {"min_score": 700, "apr": "0.1460"}],
            },
            "installment_loan": {
                "limit_tiers": [{"min_score": 350, "limit": 50000}],
                "min_score": 350,
                "apr_tiers": [{"min_score": 350, "apr": "0.1825"}],
            },
            "bnpl": {"min_score": 350},
        }
    }
)
POLICIES = st.sampled_from([POLICY, GENEROUS])

applications = st.fixed_dictionaries(
    {
        "type": st.just("application"),
        "product": st.sampled_from(["cash_loan", "installment_loan", "business_loan"]),
        "amount": amounts,
        "term_months": st.sampled_from([3, 6, 6, 9, 12, 12, 24]),
    }
)
step = st.one_of(
    applications,
    applications,
    st.fixed_dictionaries(
        {
            "type": st.just("account_opened"),
            "segment": st.sampled_from(["consumer", "merchant"]),
            "monthly_income": st.one_of(st.none(), amounts),
            "invited_products": st.lists(st.sampled_from(PRODUCTS), max_size=2),
        }
    ),
    st.fixed_dictionaries(
        {"type": st.just("account_status"), "status": st.sampled_from(["active", "frozen", "closed"])}
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("purchase"),
            "amount": amounts,
            "merchant_id": st.just("m"),
            "merchant_category": st.just("c"),
            "funding": st.sampled_from(["credit", "own"]),
        }
    ),
    st.fixed_dictionaries(
        {"type": st.just("refund"), "amount": amounts, "purchase_event_id": st.integers(0, 30).map(str)}
    ),
    st.fixed_dictionaries({"type": st.just("sale"), "amount": amounts}),
    st.fixed_dictionaries(
        {
            "type": st.just("repayment"),
            "product": st.sampled_from(PRODUCTS),
            "amount": amounts,
            "due_date": st.dates(START.date() - timedelta(days=60), START.date() + timedelta(days=400)).map(
                str
            ),
        },
        optional={"amount_due": amounts},
    ),
    st.fixed_dictionaries({"type": st.just("sale_refund"), "amount": amounts}),
    st.fixed_dictionaries(
        {
            "type": st.just("invitation_changed"),
            "product": st.just("installment_loan"),
            "action": st.sampled_from(["granted", "revoked"]),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("delinquency"),
            "product": st.sampled_from(PRODUCTS),
            "days_past_due": st.sampled_from([0, 0, 3, 31, 61, 95]),
            "amount_overdue": st.just("0"),
        }
    ),
    applications,
)
timelines = st.lists(
    st.tuples(st.sampled_from(USERS), st.integers(0, 72), step, st.integers(0, 9)), min_size=1, max_size=60
)


def build(timeline: list[tuple[str, int, dict[str, Any], int]]) -> list[Event]:
    """Events in order; a step's last number < 2 makes it a redelivery of an earlier event instead."""
    events: list[Event] = []
    now = START
    for number, (user, hours, fields, redeliver) in enumerate(timeline):
        now += timedelta(hours=hours)
        if redeliver < 2 and events:
            events.append(events[redeliver * len(events) // 2])
            continue
        events.append(event(event_id=str(number), user_id=user, occurred_at=now.isoformat(), **fields))
    return events


def run(events: list[Event]) -> tuple[dict[str, UserState], list[EngineOutput]]:
    states: dict[str, UserState] = {}
    outputs: list[EngineOutput] = []
    for item in events:
        result = apply(states.get(item.user_id), item, POLICY)
        states[item.user_id] = result.state
        outputs.extend(result.outputs)
    return states, outputs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timelines, POLICIES)
def test_balances_and_guardrails_hold_after_every_event(
    timeline: list[tuple[str, int, dict[str, Any], int]], policy: Policy
) -> None:
    states: dict[str, UserState] = {}
    for item in build(timeline):
        before = states.get(item.user_id)
        result = apply(before, item, policy)
        state = states[item.user_id] = result.state
        assert all(amount >= 0 for amount in state.outstanding)
        assert all(amount >= 0 for amount in state.credit_balance)
        decisions = [o for o in result.outputs if isinstance(o, Decision)]
        is_request = item.type == "application" or (item.type == "purchase" and item.funding == "credit")
        assert len(decisions) == (1 if is_request else 0)
        for decision in decisions:
            if decision.outcome == "declined":
                assert decision.approved_amount == 0 and decision.reasons
                continue
            if result.duplicate:
                continue
            index = PRODUCTS.index(decision.product)
            assert 0 < decision.approved_amount <= decision.requested_amount
            assert state.outstanding[index] <= decision.limit
            assert decision.available_after == decision.limit - state.outstanding[index]
            assert Decimal(decision.apr) <= Decimal("0.24")
            assert (decision.outcome == "approved") == (decision.reasons == [])
            guard = policy.guardrails
            if decision.product in guard.personal_loan_products:
                personal = sum(state.outstanding[PRODUCTS.index(p)] for p in guard.personal_loan_products)
                assert personal <= guard.personal_loan_cap
                income_cap = (
                    guard.no_income_personal_loan_cap
                    if state.monthly_income is None
                    else state.monthly_income * 12 // guard.annual_income_divisor
                )
                assert personal <= income_cap


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timelines, POLICIES)
def test_limits_fall_only_on_risk_and_offers_agree_with_limits(
    timeline: list[tuple[str, int, dict[str, Any], int]], policy: Policy
) -> None:
    states: dict[str, UserState] = {}
    for item in build(timeline):
        result = apply(states.get(item.user_id), item, policy)
        state = states[item.user_id] = result.state
        for change in result.outputs:
            if isinstance(change, LimitChanged) and change.limit < change.previous_limit:
                assert change.reason in RISK_CUTS, (item, change)
        for index, (offer_state, reasons) in enumerate(state.offers):
            assert (offer_state == "offered") == (not reasons)
            if offer_state == "offered":
                assert state.limits[index] > 0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timelines)
def test_a_redelivered_event_changes_nothing(timeline: list[tuple[str, int, dict[str, Any], int]]) -> None:
    states: dict[str, UserState] = {}
    for item in build(timeline):
        first = apply(states.get(item.user_id), item, POLICY)
        states[item.user_id] = first.state
        again = apply(first.state, item, POLICY)
        assert again.duplicate
        assert again.state.to_bytes() == first.state.to_bytes()
        first_decisions = [o for o in first.outputs if isinstance(o, Decision)]
        assert again.outputs == ([] if first.rejection else first_decisions)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timelines)
def test_the_same_events_give_the_same_outputs_and_state(
    timeline: list[tuple[str, int, dict[str, Any], int]],
) -> None:
    events = build(timeline)
    states_a, outputs_a = run(events)
    states_b, outputs_b = run(events)
    assert [o.model_dump_json() for o in outputs_a] == [o.model_dump_json() for o in outputs_b]
    assert {u: s.to_bytes() for u, s in states_a.items()} == {u: s.to_bytes() for u, s in states_b.items()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timelines)
def test_state_survives_its_own_serialisation(timeline: list[tuple[str, int, dict[str, Any], int]]) -> None:
    """What the worker does (state through the changelog bytes) decides exactly like replay (objects)."""
    events = build(timeline)
    _, in_memory = run(events)
    stored: dict[str, bytes] = {}
    through_bytes: list[EngineOutput] = []
    for item in events:
        raw = stored.get(item.user_id)
        result = apply(UserState.from_bytes(raw) if raw else None, item, POLICY)
        stored[item.user_id] = result.state.to_bytes()
        through_bytes.extend(result.outputs)
    assert through_bytes == in_memory


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timelines)
def test_apply_never_changes_the_state_it_is_given(
    timeline: list[tuple[str, int, dict[str, Any], int]],
) -> None:
    """States share containers with the state they were copied from (copy on write): every
    earlier state stays exactly as it was, whatever came after it (a challenger decides on it)."""
    states: dict[str, UserState] = {}
    history: list[tuple[UserState, bytes]] = []
    for item in build(timeline):
        before = states.get(item.user_id)
        if before is not None:
            history.append((before, before.to_bytes()))
        states[item.user_id] = apply(before, item, POLICY).state
    assert all(state.to_bytes() == stored for state, stored in history)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timelines)
def test_a_challenger_decides_on_the_champions_state_as_on_a_fresh_copy_of_it(
    timeline: list[tuple[str, int, dict[str, Any], int]],
) -> None:
    """Shadow mode applies the challenger to the very state the champion just used, with what the
    engine remembered on it under the champion: the challenger must decide as on a state read
    back from its bytes, which remembers nothing."""
    states: dict[str, UserState] = {}
    for item in build(timeline):
        before = states.get(item.user_id)
        champion = apply(before, item, POLICY)
        shadow = apply(before, item, GENEROUS)
        fresh = apply(UserState.from_bytes(before.to_bytes()) if before else None, item, GENEROUS)
        assert [encode(o) for o in shadow.outputs] == [encode(o) for o in fresh.outputs]
        assert shadow.state.to_bytes() == fresh.state.to_bytes()
        states[item.user_id] = champion.state


def every_kind_of_write(user: Timeline) -> Iterator[Applied]:
    """Each path that writes a shared container (copy on write): repayments on time and late,
    delinquency and its peaks aging out, invitations, applications, credit purchases, refunds and
    sales. The random timelines above reach some of these rarely."""
    yield user.open(income="20000", invited=["installment_loan"])
    yield user.at(days=1).borrow("cash_loan", "3000")
    yield user.at(hours=1).buy("500", event_id="p-1")
    yield user.at(hours=1).refund("p-1", "100")
    yield user.at(hours=1).refund("p-1", "900")  # more than is left: rejected
    yield user.at(hours=1).sale("80")
    due = (user.at(days=1).now + timedelta(days=3)).date().isoformat()
    yield user.send("repayment", product="cash_loan", amount="600", due_date=due, amount_due="600")
    yield user.at(days=1).repay("bnpl", "100", due_in_days=-20)  # late
    yield user.at(days=1).overdue("cash_loan", 31)
    yield user.at(days=1).overdue("cash_loan", 0)
    yield user.at(hours=1).send("invitation_changed", product="business_loan", action="granted")
    yield user.at(hours=1).send("invitation_changed", product="installment_loan", action="revoked")
    yield user.at(days=400).sale("10")  # the late history and the peaks age out
    assert user.state is not None
    assert user.state.on_time == [0, 1, 0, 0] and user.state.delinquency_peaks == [[], [], [], []]


def test_every_kind_of_write_leaves_the_earlier_states_as_they_were() -> None:
    history = [(result.state, result.state.to_bytes()) for result in every_kind_of_write(Timeline())]
    assert all(state.to_bytes() == stored for state, stored in history)


def test_changing_states_in_place_decides_as_copying_them_on_every_kind_of_write() -> None:
    """Replay and backtest hand the engine their states to change in place (``owned``)."""
    copied = [_outcome(result) for result in every_kind_of_write(Timeline())]
    in_place = [_outcome(result) for result in every_kind_of_write(Timeline(owned=True))]
    assert in_place == copied
    assert any(rejection for _, rejection, _ in copied)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timelines)
def test_changing_states_in_place_decides_as_copying_them(
    timeline: list[tuple[str, int, dict[str, Any], int]],
) -> None:
    copied: dict[str, UserState] = {}
    in_place: dict[str, UserState] = {}
    for item in build(timeline):
        by_copy = apply(copied.get(item.user_id), item, POLICY)
        by_change = apply(in_place.get(item.user_id), item, POLICY, owned=True)
        assert _outcome(by_change) == _outcome(by_copy)
        copied[item.user_id], in_place[item.user_id] = by_copy.state, by_change.state


def _outcome(result: Applied) -> tuple[list[bytes], str | None, bytes]:
    """What an event gave, as bytes: its outputs, its rejection, and the state it left."""
    return [encode(o) for o in result.outputs], result.rejection, result.state.to_bytes()
