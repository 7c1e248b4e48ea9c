"""Credit economics a risk review signs off (issue 11): limits fall only on risk, a bill counts once,
every tier is reachable, thin files and cured defaults, and payments that are not principal."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.events import EVENT_ADAPTER, PRODUCTS, Product
from schemas.money import fen_to_yuan, yuan
from schemas.outputs import LimitChanged, LimitReason, Reason
from streams.engine import UserState, apply
from streams.engine.decisions import available
from streams.policy import default_policy, load_policy
from streams.policy.loading import DEFAULT_POLICY_PATH
from streams.tools.simulate import Simulation
from streams.worker.user_view import user_view
from tests.unit.engine.builders import RISK_CUTS, Timeline, decision_of, limit_changes


def cuts(changes: list[LimitChanged]) -> list[LimitChanged]:
    return [c for c in changes if c.limit < c.previous_limit]


def repay_monthly_bill(user: Timeline, product: Product, amount: str) -> None:
    """Pay a bill of ``amount`` five days before it is due, saying what was due."""
    due = (user.now + timedelta(days=5)).date().isoformat()
    user.send("repayment", product=product, amount=amount, due_date=due, amount_due=amount)


# -- 1. limits fall only on risk, never on use -----------------------------------------------------


@pytest.mark.parametrize("income", ["5000", "15000", "50000"])
def test_drawing_the_cash_line_in_full_and_repaying_on_time_never_lowers_a_limit(income: str) -> None:
    """Before: drawing the amount shown, then repaying on time, cut bnpl 10,000 -> 6,000."""
    user = Timeline()
    user.open(income=income)
    assert user.state is not None
    first = list(user.state.limits)
    shown = available(user.state, "cash_loan", user.limit("cash_loan"), user.policy)
    decision = decision_of(user.at(days=1).borrow("cash_loan", fen_to_yuan(shown), term=6))
    assert (decision.outcome, decision.approved_amount) == ("approved", shown)
    assert user.outstanding("cash_loan") <= user.limit("cash_loan")  # never over the limit the same day
    instalment = shown // 6
    for month in range(6):
        user.at(days=30)
        left = user.outstanding("cash_loan")
        repay_monthly_bill(user, "cash_loan", fen_to_yuan(left if month == 5 else instalment))
    assert user.outstanding("cash_loan") == 0
    assert cuts(limit_changes(user.outputs)) == []
    assert all(now >= then for now, then in zip(user.state.limits, first, strict=True)), (
        user.state.limits,
        first,
    )


def test_bnpl_used_to_its_limit_every_month_and_paid_keeps_its_limit() -> None:
    user = Timeline()
    user.open(income="8000")
    for _ in range(8):
        spotless_month(user, spend=user.limit("bnpl"))
    assert cuts(limit_changes(user.outputs)) == []


def test_every_cut_in_a_simulated_population_names_a_risk_signal() -> None:
    policy = default_policy()
    states: dict[str, UserState] = {}
    simulation = Simulation(users=200, days=240, seed=5, policy=policy)
    every_cut: list[LimitChanged] = []
    for line in simulation.lines():
        event = EVENT_ADAPTER.validate_json(line)
        result = apply(states.get(event.user_id), event, policy)
        states[event.user_id] = result.state
        every_cut += cuts([o for o in result.outputs if isinstance(o, LimitChanged)])
    assert every_cut, "the population should include risk: troubled users, velocity"
    assert {c.reason for c in every_cut} <= RISK_CUTS, {c.reason for c in every_cut} - RISK_CUTS


def test_velocity_cuts_limits_and_says_so() -> None:
    user = Timeline()
    user.open(income="15000")
    before = user.limit("cash_loan")
    for _ in range(user.policy.rules.velocity_applications):
        user.at(hours=20).borrow("cash_loan", "500", term=3)
    velocity_cuts = [c for c in cuts(limit_changes(user.outputs)) if c.reason == LimitReason.VELOCITY]
    assert velocity_cuts and user.limit("cash_loan") < before


def test_a_lower_declared_income_cuts_the_line_as_income_fell() -> None:
    user = Timeline()
    user.open(income="30000")
    before = user.limit("cash_loan")
    changes = limit_changes(user.at(days=1).open(income="1000").outputs)
    cash = next(c for c in changes if c.product == "cash_loan")
    assert cash.limit < before and cash.reason == LimitReason.INCOME_FELL


# -- 2. on time means the bill was paid -----------------------------------------------------------


def test_many_small_payments_earn_nothing_that_paying_the_bill_would_not() -> None:
    """Before: 24 payments of 0.01 against one bill scored 725 where paying it scored 680."""
    micro, payer = Timeline(user_id="micro"), Timeline(user_id="payer")
    for user in (micro, payer):
        user.open(income="15000")
        decision_of(user.at(days=1).buy("900"))
        user.at(days=20)
    due = (micro.now + timedelta(days=5)).date().isoformat()
    for _ in range(24):
        micro.send("repayment", product="bnpl", amount="0.01", due_date=due, amount_due="900")
    payer.send("repayment", product="bnpl", amount="900", due_date=due, amount_due="900")
    assert micro.state is not None and payer.state is not None
    assert sum(micro.state.on_time) == 0 and sum(payer.state.on_time) == 1
    assert micro.score <= payer.score
    assert micro.limit("cash_loan") <= payer.limit("cash_loan")


def test_a_bill_counts_once_however_it_is_paid() -> None:
    user = Timeline()
    user.open(income="15000")
    decision_of(user.at(days=1).buy("900"))
    user.at(days=20)
    due = (user.now + timedelta(days=5)).date().isoformat()
    for amount in ("400", "500", "100"):  # in full after the second; the third is an overpayment
        user.send("repayment", product="bnpl", amount=amount, due_date=due, amount_due="900")
    assert user.state is not None and user.state.on_time == [1, 0, 0, 0]
    assert user.state.credit_balance[0] == yuan(100)  # the overpayment stays the user's


def test_without_amount_due_the_balance_owed_is_due() -> None:
    """An event without amount_due means what it always did; the bill is the balance owed."""
    user = Timeline()
    user.open(income="15000")
    decision_of(user.at(days=1).buy("900"))
    user.at(days=20).repay("bnpl", "450", due_in_days=5)
    assert user.state is not None and sum(user.state.on_time) == 0
    user.repay("bnpl", "450", due_in_days=5)
    assert sum(user.state.on_time) == 1


def test_a_bill_paid_late_counts_late_once_and_never_on_time() -> None:
    user = Timeline()
    user.open(income="15000")
    decision_of(user.at(days=1).buy("900"))
    user.at(days=30)
    due = (user.now - timedelta(days=3)).date().isoformat()
    for amount in ("300", "300", "300"):
        user.send("repayment", product="bnpl", amount=amount, due_date=due, amount_due="900")
    assert user.state is not None
    assert sum(user.state.on_time) == 0 and len(user.state.late_repayments) == 1


# -- 3. every tier is reachable -------------------------------------------------------------------


def spotless_month(user: Timeline, spend: int = yuan(4000)) -> None:
    """A month of bnpl spending (up to what is available), the statement paid in full before due."""
    assert user.state is not None
    amount = min(spend, available(user.state, "bnpl", user.limit("bnpl"), user.policy))
    if amount:
        assert decision_of(user.at(days=5).buy(fen_to_yuan(amount))).outcome == "approved"
    user.at(days=25 if amount else 30)
    if user.outstanding("bnpl"):
        repay_monthly_bill(user, "bnpl", fen_to_yuan(user.outstanding("bnpl")))


def spotless(months: int, income: str) -> Timeline:
    """A consumer who spends on bnpl and pays every statement in full before it is due."""
    user = Timeline()
    user.open(income=income, invited=["installment_loan"])
    for _ in range(months):
        spotless_month(user)
    return user


def test_a_50000_a_month_spotless_user_borrows_200000_cash_at_the_lowest_rate_within_24_months() -> None:
    """Before: 60,000 at 10.95% - the 850 tier could not be reached."""
    user = spotless(months=20, income="50000")
    decision = decision_of(user.at(days=1).borrow("cash_loan", "200000", term=12))
    assert (decision.outcome, decision.approved_amount, decision.apr) == ("approved", yuan(200000), "0.0730")
    assert decision.score is not None and decision.score >= 850


@pytest.mark.parametrize("policy_file", ["default.toml", "risk-tuned-2026.12.toml"])
@pytest.mark.parametrize("product", ["bnpl", "cash_loan", "installment_loan"])
def test_every_limit_tier_of_every_consumer_product_is_reached_by_a_constructed_history(
    product: Product, policy_file: str
) -> None:
    """Histories of up to 24 months: incomes from none to 50,000, starting with 0 to 3 bills paid
    30 days late, then spotless. Each tier of the product is the limit of one of them at some month.
    The risk-tuned challenger too: a tuned scorecard must not leave a tier out of reach."""
    policy = load_policy(DEFAULT_POLICY_PATH.with_name(policy_file))
    rules = policy.products[product]
    reached: set[int] = set()
    for income in (None, "2000", "8000", "15000", "50000"):
        for late_bills in (0, 1, 3):
            user = Timeline(policy=policy)
            user.open(income=income, invited=["installment_loan"])
            for _ in range(late_bills):
                decision_of(user.at(days=5).buy("100"))
                user.at(days=30).overdue("bnpl", 30, "100")
                user.repay("bnpl", "100", due_in_days=-30)
                user.overdue("bnpl", 0)
            for _ in range(24 - late_bills):
                reached.add(user.limit(product))
                spotless_month(user)
            reached.add(user.limit(product))
    tiers = {tier.limit for tier in rules.limit_tiers}
    assert tiers <= reached, sorted(tiers - reached)


# -- 5. thin files, cooling-off and rebuilding -----------------------------------------------------


def test_a_user_known_only_by_a_1_yuan_purchase_gets_no_cash_line() -> None:
    """Before: approved 2,000 cash at 24%."""
    user = Timeline()
    user.buy("1", funding="own")
    decision = decision_of(user.borrow("cash_loan", "2000", term=6))
    assert decision.outcome == "declined" and Reason.THIN_FILE in decision.reasons
    assert 0 < user.limit("bnpl") <= user.policy.rules.thin_file_bnpl_limit
    assert user.limit("cash_loan") == 0
    # A first bill paid on time is history: the cash line opens.
    decision_of(user.buy("100"))
    user.at(days=20)
    repay_monthly_bill(user, "bnpl", "100")
    assert user.limit("cash_loan") > 0


def test_after_cooling_off_the_cash_limit_climbs_back_step_by_step() -> None:
    user = spotless(months=18, income="50000")
    user.at(days=1).overdue("cash_loan", 95)
    user.at(days=1).overdue("cash_loan", 0)
    rules = user.policy.rules
    user.at(days=rules.cooling_off_days)
    seen = []
    for _ in range(rules.rebuild_days // 30 + 2):
        user.buy("1", funding="own")
        seen.append(user.limit("cash_loan"))
        user.at(days=30)
    assert seen == sorted(seen) and len(set(seen)) > 3, seen  # month by month, not at once
    first_tier = user.policy.products["cash_loan"].limit_tiers[0].limit
    assert first_tier <= seen[0] < seen[-1]
    rebuilding = [c for c in limit_changes(user.outputs) if c.reason == LimitReason.REBUILDING]
    assert len(rebuilding) >= 3


# -- 6. payments that are not principal ------------------------------------------------------------


def test_interest_and_fees_pay_the_bill_but_never_become_borrowing_power() -> None:
    """Before: a repayment with interest overpaid, and the credit balance funded the next loan."""
    user = Timeline()
    user.open(income="15000")
    decision_of(user.at(days=1).borrow("cash_loan", "1000", term=3))
    user.at(days=30)
    due = (user.now + timedelta(days=2)).date().isoformat()
    user.send(
        "repayment",
        product="cash_loan",
        amount="1030",
        due_date=due,
        amount_due="1030",
        interest="25",
        fees="5",
    )
    assert user.state is not None
    index = PRODUCTS.index("cash_loan")
    assert user.state.outstanding[index] == 0 and user.state.credit_balance[index] == 0
    assert user.state.on_time[index] == 1


def test_a_true_overpayment_of_principal_is_shown_and_spent_first() -> None:
    user = Timeline()
    user.open(income="15000")
    decision_of(user.at(days=1).borrow("cash_loan", "1000", term=3))
    user.at(days=10).repay("cash_loan", "1200", due_in_days=5)
    assert user.state is not None
    view = user_view(user.state, user.policy)
    assert view["products"]["cash_loan"]["credit_balance"] == "200.00"
    decision_of(user.at(days=1).borrow("cash_loan", "500", term=3))
    assert user.outstanding("cash_loan") == yuan(300)
    assert user.state.credit_balance[PRODUCTS.index("cash_loan")] == 0
