"""Per-product limits from score, income and sales, with the reason that set each one."""

from __future__ import annotations

from schemas.events import PRODUCTS, Product
from schemas.outputs import LimitReason
from streams.engine.features import local_day
from streams.engine.state import UserState
from streams.policy import Policy, ProductPolicy

__all__ = ["compute_limits", "cooling_off", "eligible", "non_performing", "personal_loan_income_cap"]


def non_performing(state: UserState, policy: Policy) -> bool:
    return max(state.days_past_due) >= policy.rules.non_performing_days


def cooling_off(state: UserState, product: Product, policy: Policy) -> bool:
    """Whether a cured default still keeps this product closed (by the user's event-time clock)."""
    rules = policy.rules
    if state.cured_default_day < 0 or product not in rules.cooling_off_products:
        return False
    return local_day(state.clock, policy) - state.cured_default_day < rules.cooling_off_days


def eligible(state: UserState, product: Product, rules: ProductPolicy) -> bool:
    if rules.eligibility == "invited":
        return product in state.invited
    if rules.eligibility == "merchants":
        return state.segment == "merchant"
    return True


def compute_limits(state: UserState, score: int, policy: Policy, sales: int) -> list[tuple[int, LimitReason]]:
    """(limit in fen, reason) for each product, in PRODUCTS order; ``sales`` is the 90-day sales."""
    if state.status == "closed":
        return [(0, LimitReason.ACCOUNT_CLOSED)] * len(PRODUCTS)
    if non_performing(state, policy):
        return [(0, LimitReason.NON_PERFORMING)] * len(PRODUCTS)
    return [
        _product_limit(state, product, score, policy.products[product], sales, policy) for product in PRODUCTS
    ]


def personal_loan_income_cap(state: UserState, policy: Policy) -> int:
    """The most a person's personal online loans may total by income (fen): a third of annual
    income, or the documented lower cap when income is unknown."""
    guard = policy.guardrails
    if state.monthly_income is None:
        return guard.no_income_personal_loan_cap
    return state.monthly_income * 12 // guard.annual_income_divisor


def _product_limit(
    state: UserState, product: Product, score: int, rules: ProductPolicy, sales: int, policy: Policy
) -> tuple[int, LimitReason]:
    if not eligible(state, product, rules):
        return 0, LimitReason.NOT_ELIGIBLE
    if cooling_off(state, product, policy):
        return 0, LimitReason.COOLING_OFF
    if score < rules.min_score:
        return 0, LimitReason.SCORE_TOO_LOW
    if rules.sales_share_tiers:
        limit, reason = rules.sales_limit(score, sales), LimitReason.SALES_VOLUME
    else:
        limit, reason = rules.tier_limit(score), LimitReason.SCORE_TIER
        income_cap = rules.income_limit(state.monthly_income)
        if income_cap is not None and income_cap < limit:
            limit, reason = income_cap, LimitReason.INCOME_MULTIPLE
    if limit > rules.max_limit:
        limit, reason = rules.max_limit, LimitReason.PRODUCT_MAXIMUM
    if product in policy.guardrails.personal_loan_products:
        # A limit the guardrails would never let be borrowed is not shown: the limit is borrowable.
        if policy.guardrails.personal_loan_cap < limit:
            limit, reason = policy.guardrails.personal_loan_cap, LimitReason.REGULATORY_CAP
        income_cap = personal_loan_income_cap(state, policy)
        if income_cap < limit:
            limit, reason = income_cap, LimitReason.INCOME_CAP
    limit -= limit % rules.limit_step  # whole steps: small input changes do not move the limit
    if limit < rules.min_limit:
        # A product with a floor (installment_loan: 5,000) is not offered below it; never raised to it,
        # which would override the income cap.
        return 0, reason
    return limit, reason
