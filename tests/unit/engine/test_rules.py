"""One test per engine rule: decisions, reasons, limits, guardrails, balances, idempotency."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from schemas.codec import encode
from schemas.money import yuan
from schemas.outputs import (
    Decision,
    LimitChanged,
    LimitReason,
    OfferChanged,
    Reason,
    ScoreChanged,
    ScoreFactor,
)
from streams.engine import apply
from streams.engine.apply import decision_id
from streams.engine.features import compute_features
from streams.policy import DEFAULT_POLICY_PATH, PolicyError, load_policy
from tests.unit.engine.builders import (
    INSTALMENTS_AT_EVERY_SCORE,
    Timeline,
    decision_of,
    event,
    limit_changes,
    policy_with,
)

CHAMPION_POLICY = DEFAULT_POLICY_PATH.parent / "champion-2026.11.toml"


@pytest.fixture()
def user() -> Timeline:
    timeline = Timeline()
    timeline.open(income="15000")
    return timeline


# -- approval, partial, decline -----------------------------------------------------------------


def test_a_credit_purchase_within_the_limit_is_approved_and_booked(user: Timeline) -> None:
    limit = user.limit("bnpl")
    decision = decision_of(user.buy("500"))
    assert (decision.outcome, decision.approved_amount, decision.reasons) == ("approved", yuan(500), [])
    assert decision.apr == "0" and decision.term_months is None
    assert decision.limit == limit
    assert decision.available_after == limit - yuan(500)
    assert user.outstanding("bnpl") == yuan(500)


def test_a_credit_purchase_above_available_is_declined_never_partial(user: Timeline) -> None:
    decision = decision_of(user.buy(str(user.limit("bnpl") // 100 + 1)))
    assert (decision.outcome, decision.approved_amount) == ("declined", 0)
    assert decision.reasons == [Reason.INSUFFICIENT_LIMIT]
    assert user.outstanding("bnpl") == 0


def test_an_own_funds_purchase_gets_no_decision(user: Timeline) -> None:
    result = user.buy("99999", funding="own")
    assert not [o for o in result.outputs if isinstance(o, Decision)]
    assert user.outstanding("bnpl") == 0


def test_a_loan_above_available_is_partially_approved_in_whole_steps(user: Timeline) -> None:
    limit = user.limit("cash_loan")
    user.borrow("cash_loan", "1250")
    decision = decision_of(user.borrow("cash_loan", "100000"))
    available = limit - yuan(1250)
    assert decision.outcome == "partial"
    assert decision.approved_amount == available - available % yuan(100)
    assert decision.reasons == [Reason.INSUFFICIENT_LIMIT]
    assert decision.available_after == limit - user.outstanding("cash_loan")


def test_a_partial_offer_below_the_minimum_is_a_decline(user: Timeline) -> None:
    user.borrow("cash_loan", str(user.limit("cash_loan") // 100 - 300))  # leaves 300 < 500 minimum
    decision = decision_of(user.borrow("cash_loan", "1000"))
    assert decision.outcome == "declined"
    assert decision.reasons == [Reason.INSUFFICIENT_LIMIT, Reason.BELOW_MINIMUM]


def test_a_request_below_the_product_minimum_is_declined(user: Timeline) -> None:
    decision = decision_of(user.borrow("cash_loan", "499.99"))
    assert decision.reasons == [Reason.BELOW_MINIMUM]


def test_a_term_the_product_does_not_offer_is_declined(user: Timeline) -> None:
    assert decision_of(user.borrow("cash_loan", "1000", term=9)).reasons == [Reason.INVALID_TERM]
    assert decision_of(user.borrow("cash_loan", "1000", term=12)).outcome == "approved"


# -- hard rules -----------------------------------------------------------------------------------


def test_overdue_freezes_new_credit_until_cured(user: Timeline) -> None:
    user.overdue("bnpl", 5)
    assert decision_of(user.buy("10")).reasons == [Reason.OVERDUE]
    assert Reason.OVERDUE in decision_of(user.borrow("cash_loan", "1000")).reasons
    user.overdue("bnpl", 0)
    assert decision_of(user.buy("10")).outcome == "approved"


@pytest.mark.parametrize(
    ("status", "reason"), [("frozen", Reason.ACCOUNT_FROZEN), ("closed", Reason.ACCOUNT_CLOSED)]
)
def test_account_status_declines(user: Timeline, status: str, reason: Reason) -> None:
    user.status(status)
    assert reason in decision_of(user.buy("10")).reasons
    user.status("active")
    assert decision_of(user.buy("10")).outcome == "approved"


def test_a_closed_account_has_every_limit_at_zero(user: Timeline) -> None:
    changes = limit_changes(user.status("closed").outputs)
    assert {c.reason for c in changes} == {LimitReason.ACCOUNT_CLOSED}
    assert all(user.limit(p) == 0 for p in ("bnpl", "cash_loan", "installment_loan", "business_loan"))


def test_more_than_three_applications_in_24_hours_is_velocity(user: Timeline) -> None:
    for _ in range(3):
        assert Reason.VELOCITY not in decision_of(user.at(hours=1).borrow("cash_loan", "500")).reasons
    assert Reason.VELOCITY in decision_of(user.at(hours=1).borrow("cash_loan", "500")).reasons
    # Bnpl checkouts are not loan applications.
    assert decision_of(user.buy("10")).outcome == "approved"
    user.at(days=1)
    assert Reason.VELOCITY not in decision_of(user.borrow("cash_loan", "500")).reasons


def test_velocity_threshold_is_a_policy_setting() -> None:
    timeline = Timeline(policy=policy_with({"rules": {"max_applications_24h": 1}}))
    timeline.open()
    assert Reason.VELOCITY not in decision_of(timeline.borrow("cash_loan", "500")).reasons
    assert Reason.VELOCITY in decision_of(timeline.borrow("cash_loan", "500")).reasons


def test_installment_loans_are_for_invited_users_only(user: Timeline) -> None:
    assert decision_of(user.borrow("installment_loan", "5000")).reasons == [Reason.NOT_INVITED]
    invited = Timeline(user_id="u-invited")
    invited.open(invited=["installment_loan"])
    assert invited.limit("installment_loan") >= yuan(5000)
    assert decision_of(invited.borrow("installment_loan", "5000", term=9)).outcome == "approved"
    assert decision_of(invited.borrow("installment_loan", "5000", term=24)).reasons == [Reason.INVALID_TERM]


def test_business_loans_are_for_merchants_and_sized_from_90_day_sales() -> None:
    consumer = Timeline()
    consumer.open()
    assert decision_of(consumer.borrow("business_loan", "1000")).reasons == [Reason.NOT_MERCHANT]

    merchant = Timeline(user_id="m-1")
    merchant.open(segment="merchant")
    rules = merchant.policy.products["business_loan"]

    def sized(sales: int) -> int:
        """The limit the merchant's score tier gives for these 90-day sales, in whole steps."""
        assert merchant.state is not None
        reached = [t for t in rules.sales_share_tiers if t.min_score <= merchant.state.merchant_score]
        limit = int(sales * reached[-1].share) if reached else 0  # the tier's share, rounded down
        return limit - limit % rules.limit_step

    merchant.sale("10000")
    merchant.at(days=30).sale("10000")
    assert merchant.limit("business_loan") == sized(yuan(20000)) > 0
    merchant.at(days=80)  # the first sale has left the 90-day window
    changes = limit_changes(merchant.sale("5000").outputs)
    assert merchant.limit("business_loan") == sized(yuan(15000))
    cut = next(c for c in changes if c.product == "business_loan")
    assert cut.limit < cut.previous_limit and cut.reason == LimitReason.SALES_FELL
    # Sales-sized limits move in whole steps (1,000 yuan), not with every sale.
    changes_before = len(limit_changes(merchant.outputs))
    merchant.sale("10")
    assert merchant.limit("business_loan") == sized(yuan(15000))
    assert len(limit_changes(merchant.outputs)) == changes_before


def test_a_score_below_the_product_minimum_is_declined() -> None:
    timeline = Timeline(policy=policy_with({"products": {"cash_loan": {"min_score": 900}}}))
    timeline.open()
    assert timeline.limit("cash_loan") == 0
    assert Reason.SCORE_TOO_LOW in decision_of(timeline.borrow("cash_loan", "1000")).reasons


# -- guardrails ------------------------------------------------------------------------------------

GENEROUS = {
    "products": {
        "cash_loan": {
            "limit_tiers": [{"min_score": 350, "limit": 200000}],
            "income_multiple": "100",
            "min_score": 350,
            "apr_tiers": [{"min_score": 350, "apr": "0.2400"}],
        },
        "installment_loan": INSTALMENTS_AT_EVERY_SCORE,
    }
}


def test_personal_loans_stop_at_a_third_of_annual_income() -> None:
    timeline = Timeline(policy=policy_with(GENEROUS))
    timeline.open(income="15000")  # a third of 180,000 = 60,000
    assert decision_of(timeline.borrow("cash_loan", "50000")).outcome == "approved"
    decision = decision_of(timeline.at(days=2).borrow("cash_loan", "30000"))
    assert (decision.outcome, decision.approved_amount) == ("partial", yuan(10000))
    assert decision.reasons == [Reason.INCOME_CAP]


def test_personal_loans_stop_at_200000_per_person() -> None:
    timeline = Timeline(policy=policy_with(GENEROUS))
    timeline.open(income="100000", invited=["installment_loan"])
    assert decision_of(timeline.borrow("cash_loan", "150000")).outcome == "approved"
    assert decision_of(timeline.at(days=2).borrow("installment_loan", "50000")).outcome == "approved"
    decision = decision_of(timeline.at(days=2).borrow("cash_loan", "10000"))
    assert decision.outcome == "declined"
    assert decision.reasons == [Reason.REGULATORY_CAP, Reason.BELOW_MINIMUM]


def test_unknown_income_has_the_documented_lower_cap() -> None:
    generous_without_income = {"cash_loan": {**GENEROUS["products"]["cash_loan"], "no_income_limit": 200000}}
    timeline = Timeline(policy=policy_with({"products": generous_without_income}))
    timeline.open(income=None)
    decision_of(timeline.buy("100"))  # one bill paid on time: no longer a thin file
    timeline.at(days=20).repay("bnpl", "100", due_in_days=5)
    decision = decision_of(timeline.borrow("cash_loan", "30000"))
    cap = timeline.policy.guardrails.no_income_personal_loan_cap
    assert decision.reasons == [Reason.INCOME_CAP]
    assert decision.approved_amount == cap


def test_the_apr_follows_the_score_tier_within_the_guardrails(user: Timeline) -> None:
    decision = decision_of(user.borrow("cash_loan", "1000"))
    assert decision.score is not None
    expected = user.policy.products["cash_loan"].apr(decision.score)
    assert Decimal(decision.apr) == expected
    assert Decimal("0.073") <= Decimal(decision.apr) <= Decimal("0.24")


def test_a_policy_above_the_24_percent_cap_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"apr 0.30 is above guardrails.max_apr 0.24"):
        policy_with({"products": {"cash_loan": {"apr_tiers": [{"min_score": 550, "apr": "0.30"}]}}})
    greedy = tmp_path / "greedy.toml"
    greedy.write_text('extends = "default"\nversion = "greedy"\n[guardrails]\nmax_apr = "0.36"\n')
    with pytest.raises(PolicyError, match=r"greedy\.toml: .*max_apr 0.36 is above the regulatory 24% cap"):
        load_policy(greedy)


# -- delinquency and non-performing --------------------------------------------------------------


def test_90_days_past_due_takes_every_limit_to_zero_until_cured(user: Timeline) -> None:
    before = [user.limit(p) for p in ("bnpl", "cash_loan")]
    changes = limit_changes(user.overdue("cash_loan", 90).outputs)
    assert {c.reason for c in changes} == {LimitReason.NON_PERFORMING}
    assert all(user.limit(p) == 0 for p in ("bnpl", "cash_loan", "installment_loan", "business_loan"))
    user.overdue("cash_loan", 0)
    assert user.limit("bnpl") > 0
    assert user.limit("cash_loan") == 0  # cured, but cooling off (see the next test)
    user.at(days=user.policy.rules.cooling_off_days).buy("1")
    assert user.limit("cash_loan") > 0
    after = [user.limit(p) for p in ("bnpl", "cash_loan")]
    # Element by element: a list comparison is lexicographic and would let cash_loan rise unseen.
    assert all(now <= then for now, then in zip(after, before, strict=True)), (after, before)


def test_a_cured_default_waits_out_the_cooling_off_period_for_cash_and_instalments() -> None:
    """The day after curing a 95-day default, and 30 days later, no new cash: COOLING_OFF."""
    user = Timeline()
    user.open(income="15000", invited=["installment_loan"])
    decision_of(user.borrow("cash_loan", "1000"))
    user.at(days=100).overdue("cash_loan", 95)
    user.at(days=1).overdue("cash_loan", 0)
    assert user.limit("bnpl") > 0 and user.limit("cash_loan") == user.limit("installment_loan") == 0
    since_cure = 0
    for step in (1, 29, 58):  # 1, 30 and 88 days after the cure
        since_cure += step
        decision = decision_of(user.at(days=step).borrow("cash_loan", "1000"))
        assert decision.outcome == "declined" and Reason.COOLING_OFF in decision.reasons, since_cure
    assert Reason.COOLING_OFF in decision_of(user.borrow("installment_loan", "5000")).reasons
    assert decision_of(user.buy("10")).outcome == "approved"  # bnpl is not held back by it
    user.at(days=user.policy.rules.cooling_off_days - since_cure)  # the period is over
    assert Reason.COOLING_OFF not in decision_of(user.borrow("cash_loan", "1000")).reasons
    assert user.limit("cash_loan") > 0


def test_a_smaller_later_delinquency_still_counts_when_the_worst_one_expires() -> None:
    """Only the single worst was kept: a later, smaller one vanished with it (issue 11)."""
    user = Timeline()
    user.open(income="15000")
    window = user.policy.windows.late_history_days
    user.overdue("cash_loan", 60)
    user.at(days=1).overdue("cash_loan", 0)
    user.at(days=200).overdue("bnpl", 20)
    user.at(days=1).overdue("bnpl", 0)
    user.at(days=window - 150)  # the 60-day one is out of the window, the 20-day one is not
    user.buy("1", funding="own")
    assert user.state is not None
    consumer = user.policy.model_indices["consumer"]
    features = compute_features(user.state, user.policy, 0, consumer)
    assert features["worst_days_past_due_in_late_history"] == 20
    user.at(days=window)
    user.buy("1", funding="own")
    assert compute_features(user.state, user.policy, 0, consumer)["worst_days_past_due_in_late_history"] == 0
    assert user.state.delinquency_peaks == [[], [], [], []]  # pruned once out of the window


@pytest.mark.parametrize("how", ["closed", "defaulted"])
def test_with_every_limit_at_zero_utilisation_earns_no_points(how: str) -> None:
    """It read 0%, the best band: a closed or defaulted user earned utilisation points. (Today's
    default scorecard has no utilisation factor; the 2026.11 policy, which has, is the test bed.)"""
    user = Timeline(policy=load_policy(CHAMPION_POLICY))
    user.open(income="15000")
    decision_of(user.buy("300"))
    if how == "closed":
        user.status("closed")
    else:
        user.overdue("bnpl", 95)
    user.at(days=1).buy("1", funding="own")  # the score is taken on the limits as they stood before
    assert user.state is not None and sum(user.state.limits) == 0
    assert compute_features(user.state, user.policy, 0, (0, 1, 2, 3))["utilisation_pct"] is None
    factors = [f.name for f in user.policy.score.factors]
    assert user.state.factor_points[factors.index(ScoreFactor.UTILISATION)] == 0


def test_a_smaller_delinquency_does_not_start_a_cooling_off() -> None:
    user = Timeline()
    user.open(income="15000")
    user.overdue("cash_loan", 45)
    user.at(days=1).overdue("cash_loan", 0)
    assert user.state is not None and user.state.cured_default_day == -1
    assert Reason.COOLING_OFF not in decision_of(user.borrow("cash_loan", "1000")).reasons


# -- balances ---------------------------------------------------------------------------------------


def test_a_repayment_lowers_outstanding_and_an_overpayment_is_kept(user: Timeline) -> None:
    user.buy("300")
    user.repay("bnpl", "500")
    assert user.outstanding("bnpl") == 0
    assert user.state is not None and user.state.credit_balance[0] == yuan(200)
    user.buy("250")  # the credit balance pays first
    assert user.outstanding("bnpl") == yuan(50)
    assert user.state.credit_balance[0] == 0


def test_a_refund_of_a_credit_purchase_gives_the_limit_back(user: Timeline) -> None:
    user.buy("300", event_id="p-300")
    user.refund("p-300", "100")
    assert user.outstanding("bnpl") == yuan(200)


@pytest.mark.parametrize(
    ("target", "amount", "words"),
    [
        ("p-300", "300.01", "exceeds what is left of purchase 'p-300' (300.00 of 300.00)"),
        ("p-404", "1", "unknown purchase 'p-404'"),
    ],
)
def test_a_refund_that_cannot_apply_is_rejected_and_changes_nothing(
    user: Timeline, target: str, amount: str, words: str
) -> None:
    user.buy("300", event_id="p-300")
    before = user.state
    result = user.refund(target, amount)
    assert result.rejection is not None and words in result.rejection
    assert result.outputs == []
    assert before is not None and result.state.outstanding == before.outstanding


def test_refunds_add_up_and_cannot_exceed_the_purchase(user: Timeline) -> None:
    user.buy("300", event_id="p-300")
    assert user.refund("p-300", "200").rejection is None
    assert "exceeds" in (user.refund("p-300", "100.01").rejection or "")
    assert user.refund("p-300", "100").rejection is None
    assert user.outstanding("bnpl") == 0


def test_a_refund_of_a_declined_purchase_is_rejected(user: Timeline) -> None:
    user.status("frozen")
    user.buy("10", event_id="p-declined")
    assert "was declined" in (user.refund("p-declined", "10").rejection or "")


# -- idempotency, defaults, time, order --------------------------------------------------------------


def test_a_redelivered_event_changes_nothing(user: Timeline) -> None:
    user.buy("300", event_id="p-1")
    state = user.state
    again = user.buy("300", event_id="p-1")
    assert again.duplicate and again.state is state


def test_a_redelivered_request_gets_its_original_decision_again(user: Timeline) -> None:
    first = decision_of(user.borrow("cash_loan", "1000", event_id="a-1"))
    user.at(days=3).repay("cash_loan", "1000")
    again = user.borrow("cash_loan", "1000", event_id="a-1")
    assert again.outputs == [first]
    assert first.decision_id == decision_id("u-1", "a-1")


@pytest.mark.parametrize(
    ("user_id", "event_id"), [("u-1", "a-1"), ("商户-7", "e\x00x"), ("", ""), ("u" * 300, "9f1c-42")]
)
def test_a_decision_id_is_the_version_5_uuid_of_user_and_request(user_id: str, event_id: str) -> None:
    namespace = uuid.UUID("2f0c6b4e-6a36-4c7e-9d8a-7c0f2b1d5e93")
    assert decision_id(user_id, event_id) == str(uuid.uuid5(namespace, f"{user_id}\x00{event_id}"))


def test_outputs_serialise_exactly_as_pydantics_own_construction_would(user: Timeline) -> None:
    """The engine builds its outputs without model_construct, for speed: same fields, same order."""
    outputs = [
        *user.open(income="20000").outputs,
        *user.borrow("cash_loan", "1000", event_id="a-1").outputs,
        *user.at(days=40).overdue("cash_loan", 10, "300").outputs,
    ]
    assert {type(o).__name__ for o in outputs} >= {"Decision", "ScoreChanged", "LimitChanged", "OfferChanged"}
    for output in outputs:
        rebuilt = type(output).model_construct(**dict(output))
        assert encode(output) == encode(rebuilt)
        assert output == rebuilt and output.model_fields_set == set(type(output).model_fields)


def test_a_user_without_account_opened_starts_from_the_default_profile() -> None:
    implicit = Timeline(user_id="u-implicit")
    decision = decision_of(implicit.buy("100"))
    assert implicit.state is not None
    assert (implicit.state.segment, implicit.state.status, implicit.state.monthly_income) == (
        "consumer",
        "active",
        None,
    )
    # The same as a consumer who opened an account without declaring income.
    explicit = Timeline(user_id="u-explicit")
    explicit.open(income=None)
    assert decision.score == explicit.score
    no_income_limit = implicit.policy.products["bnpl"].no_income_limit
    assert no_income_limit is not None
    assert decision.limit == explicit.limit("bnpl") <= no_income_limit


def test_a_late_event_never_moves_the_clock_back(user: Timeline) -> None:
    user.at(days=10).buy("10")
    assert user.state is not None
    clock = user.state.clock
    user.apply(
        event(
            event_id="late-1", type="sale", user_id="u-1", occurred_at="2025-12-01T00:00:00+08:00", amount="5"
        )
    )
    assert user.state.clock == clock


def test_outputs_come_decision_first_then_score_then_limits_in_product_order_then_offers() -> None:
    timeline = Timeline()
    result = timeline.borrow("cash_loan", "500")  # first event: a request that also sets score and limits
    kinds = [type(o) for o in result.outputs]
    assert kinds[0] is Decision and kinds[1] is ScoreChanged and kinds[-1] is OfferChanged
    assert all(k is LimitChanged for k in kinds[2:-1])
    products = [o.product for o in result.outputs[2:] if isinstance(o, LimitChanged)]
    assert products == sorted(products, key=["bnpl", "cash_loan", "installment_loan", "business_loan"].index)


def test_apply_never_mutates_the_state_it_is_given(user: Timeline) -> None:
    assert user.state is not None
    before = user.state.to_bytes()
    apply(
        user.state,
        event(
            event_id="x",
            type="purchase",
            user_id="u-1",
            occurred_at="2026-02-01T00:00:00Z",
            amount="10",
            merchant_id="m",
            merchant_category="c",
            funding="credit",
        ),
        user.policy,
    )
    assert user.state.to_bytes() == before
