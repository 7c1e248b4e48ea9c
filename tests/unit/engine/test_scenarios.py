"""Scenario tests: whole user stories over event time, checked at the points that matter."""

from __future__ import annotations

from schemas.money import yuan
from schemas.outputs import Decision, LimitReason, Reason, ScoreFactor
from streams.engine.limits import candidate_limits
from tests.unit.engine.builders import Timeline, decision_of, limit_changes, score_changes


def test_a_student_who_borrows_every_day_loses_score_and_hits_velocity() -> None:
    student = Timeline(user_id="student")
    student.open(income=None)
    first_score = student.score
    decisions: list[Decision] = []
    for _ in range(14):
        decisions.append(decision_of(student.at(days=1).borrow("cash_loan", "500", term=3)))
    assert student.score < first_score
    factors = {f for change in score_changes(student.outputs) for f in change.reasons}
    assert ScoreFactor.APPLICATION_VELOCITY in factors
    # Whatever was approved, the no-income guardrail held.
    assert student.outstanding("cash_loan") <= student.policy.guardrails.no_income_personal_loan_cap
    assert any(d.outcome == "declined" for d in decisions)
    # Four in one day is velocity.
    burst = [decision_of(student.at(hours=1).borrow("cash_loan", "500", term=3)) for _ in range(4)]
    assert Reason.VELOCITY in burst[-1].reasons


def test_a_salaried_user_who_repays_on_time_for_a_year_gains_score_and_limit() -> None:
    worker = Timeline(user_id="salaried")
    worker.open(income="12000")
    first_score, first_limit = worker.score, worker.limit("bnpl")
    for _ in range(12):
        assert decision_of(worker.at(days=30).buy("800")).outcome == "approved"
        worker.at(days=20).repay("bnpl", "800", due_in_days=5)  # five days early
    assert worker.state is not None and sum(worker.state.on_time) == 12
    assert worker.score >= first_score + 50
    assert worker.limit("bnpl") > first_limit
    raises = [c for c in limit_changes(worker.outputs) if c.product == "bnpl" and c.limit > c.previous_limit]
    assert raises and all(c.reason in (LimitReason.SCORE_TIER, LimitReason.INCOME_MULTIPLE) for c in raises)
    assert ScoreFactor.ON_TIME_REPAYMENTS in {f for c in score_changes(worker.outputs) for f in c.reasons}


def test_a_merchant_whose_sales_grow_can_borrow_more() -> None:
    merchant = Timeline(user_id="merchant")
    merchant.open(segment="merchant", income=None)
    merchant.sale("20000")
    early_limit = merchant.limit("business_loan")
    assert decision_of(merchant.borrow("business_loan", "30000")).outcome in ("partial", "declined")
    limits = []
    sales = 20000.0
    for _ in range(12):
        sales *= 1.15
        for _ in range(3):
            merchant.at(days=10).sale(f"{sales:.2f}")
        limits.append(merchant.limit("business_loan"))
    assert limits == sorted(limits)
    assert limits[-1] > 4 * early_limit
    merchant.repay("business_loan", "99999")
    late = decision_of(merchant.at(days=2).borrow("business_loan", "30000"))
    assert late.outcome == "approved"


def test_a_user_who_goes_30_60_90_days_past_due_then_cures() -> None:
    user = Timeline(user_id="delinquent")
    user.open(income="15000")
    user.buy("1000")
    healthy_score = user.score

    user.at(days=35).overdue("bnpl", 5, "1000")
    assert decision_of(user.buy("1")).reasons == [Reason.OVERDUE]
    at_5 = user.score
    user.at(days=25).overdue("bnpl", 30, "1000")
    at_30 = user.score
    assert healthy_score - at_30 >= 150  # 30+ days past due lowers the score sharply
    assert at_30 < at_5
    user.at(days=30).overdue("bnpl", 60, "1000")
    assert user.score < at_30
    # Before 90 days, limits fall with the score, the cut named for being past due, not as
    # non-performing.
    cuts = {c.reason for c in limit_changes(user.outputs) if c.limit < c.previous_limit}
    assert cuts == {LimitReason.OVERDUE}

    user.at(days=30).overdue("bnpl", 90, "1000")
    assert user.state is not None
    scores = {"consumer": user.score, "merchant": 0}
    holding_at_zero = candidate_limits(user.state, scores, user.policy, sales=0)
    # Every consumer product is non-performing; installment_loan and business_loan were never open.
    assert holding_at_zero == [(0, LimitReason.NON_PERFORMING)] * 2 + [(0, LimitReason.NOT_ELIGIBLE)] * 2
    assert Reason.NON_PERFORMING in decision_of(user.borrow("cash_loan", "500")).reasons

    user.at(days=3).repay("bnpl", "1000", due_in_days=-120)
    cured = user.at(days=1).overdue("bnpl", 0)
    assert user.limit("bnpl") > 0
    assert any(c.product == "bnpl" and c.limit > 0 for c in limit_changes(cured.outputs))
    # Cured, but the worst delinquency and the late repayment still count against the score.
    assert at_30 < user.score < healthy_score
    assert decision_of(user.buy("10")).outcome == "approved"
    assert user.state is not None and user.state.late_repayments
    assert yuan(1000) > user.outstanding("bnpl")
