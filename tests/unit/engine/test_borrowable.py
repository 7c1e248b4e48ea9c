"""What a user is shown can be borrowed (issue 11: "shown is borrowable", "frozen is not zero").

`available` in /users/{id} and `available_after` on a decision include the regulatory and income
headroom that personal loans share; a limit is never shown above what the guardrails would lend;
and a frozen or closed account has nothing available.
"""

from __future__ import annotations

import pytest

from schemas.events import PRODUCTS, Product
from schemas.money import fen_to_yuan, yuan
from schemas.outputs import LimitReason, Reason
from streams.engine.decisions import available
from streams.engine.limits import personal_loan_income_cap
from streams.worker.user_view import user_view
from tests.unit.engine.builders import (
    CASH_AT_EVERY_SCORE,
    INSTALMENTS_AT_EVERY_SCORE,
    Timeline,
    decision_of,
    limit_changes,
    policy_with,
)

INCOMES = [None, "3000", "5000", "8000", "15000", "50000"]
# Tiers as high as a long, spotless history earns: six months of income, not the tier, then binds.
HIGH_TIERS = {
    "products": {
        "cash_loan": CASH_AT_EVERY_SCORE,
        "installment_loan": INSTALMENTS_AT_EVERY_SCORE,
    }
}
POLICIES = ["default", "high-tiers"]


def timeline(policy: str) -> Timeline:
    return Timeline(policy=policy_with(HIGH_TIERS)) if policy == "high-tiers" else Timeline()


def shown(user: Timeline, product: str) -> int:
    """What /users/{id} shows as available for the product, in fen."""
    assert user.state is not None
    return yuan(user_view(user.state, user.policy)["products"][product]["available"])


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("income", INCOMES)
def test_no_personal_loan_limit_is_shown_above_what_the_guardrails_lend(
    income: str | None, policy: str
) -> None:
    user = timeline(policy)
    user.open(income=income, invited=["installment_loan"])
    assert user.state is not None
    cap = min(personal_loan_income_cap(user.state, user.policy), user.policy.guardrails.personal_loan_cap)
    for product in ("cash_loan", "installment_loan"):
        assert user.limit(product) <= cap, (product, user.limit(product), cap)


def test_a_limit_cut_to_a_third_of_annual_income_says_so() -> None:
    """Tier 200,000 and 6 months of a 15,000 income (90,000): the guardrail lends 60,000, shown so."""
    user = timeline("high-tiers")
    changes = limit_changes(user.open(income="15000").outputs)
    cash = next(c for c in changes if c.product == "cash_loan")
    assert (cash.limit, cash.reason) == (yuan(60000), LimitReason.INCOME_CAP)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("income", INCOMES)
@pytest.mark.parametrize("product", ["cash_loan", "installment_loan"])
def test_applying_for_exactly_the_amount_shown_is_approved_in_full(
    income: str | None, product: Product, policy: str
) -> None:
    user = timeline(policy)
    user.open(income=income, invited=["installment_loan"])
    minimum = user.policy.products[product].min_amount
    draws = 0
    for _ in range(3):  # the whole line, then what is left after repaying part of it
        amount = shown(user, product)
        if amount < minimum:
            # Shown below the minimum: then the minimum itself is not lent in full either.
            decision = decision_of(user.at(days=1).borrow(product, fen_to_yuan(minimum), term=6))
            assert decision.outcome != "approved"
            break
        decision = decision_of(user.at(days=1).borrow(product, fen_to_yuan(amount), term=6))
        assert (decision.outcome, decision.approved_amount) == ("approved", amount), (draws, decision)
        assert decision.available_after == shown(user, product) == 0
        draws += 1
        user.at(days=30).repay(product, fen_to_yuan(amount // 2))
    if product == "cash_loan" and income is not None:
        assert draws >= 1  # every declared income here is shown a cash line (none: a thin file)


@pytest.mark.parametrize("policy", POLICIES)
def test_a_draw_on_one_personal_loan_shrinks_what_the_other_shows(policy: str) -> None:
    user = timeline(policy)
    user.open(income="8000", invited=["installment_loan"])  # a third of annual income: 32,000
    before = shown(user, "installment_loan")
    decision_of(user.borrow("cash_loan", "9000"))
    assert user.state is not None
    room = personal_loan_income_cap(user.state, user.policy) - user.outstanding("cash_loan")
    assert shown(user, "installment_loan") == min(before, room)
    amount = shown(user, "installment_loan")
    decision = decision_of(user.at(days=1).borrow("installment_loan", fen_to_yuan(amount)))
    assert (decision.outcome, decision.approved_amount) == ("approved", amount)


@pytest.mark.parametrize(
    ("status", "reason"), [("frozen", Reason.ACCOUNT_FROZEN), ("closed", Reason.ACCOUNT_CLOSED)]
)
def test_a_frozen_or_closed_account_has_nothing_available(status: str, reason: Reason) -> None:
    user = Timeline()
    user.open(invited=["installment_loan"])
    user.buy("100")
    user.status(status)
    decision = decision_of(user.buy("10"))
    assert decision.outcome == "declined" and reason in decision.reasons
    assert decision.available_after == 0
    assert user.state is not None
    for product in PRODUCTS:
        assert shown(user, product) == 0
        assert available(user.state, product, user.limit(product), user.policy) == 0
