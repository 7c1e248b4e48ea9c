"""Per-product limits from score, income and sales, with the reason that set each one."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from schemas.events import PRODUCTS, Product
from schemas.outputs import LimitReason
from streams.engine.features import local_day, window_sum
from streams.engine.state import UserState
from streams.policy import Policy, ProductPolicy

__all__ = ["compute_limits", "eligible", "non_performing"]


def non_performing(state: UserState, policy: Policy) -> bool:
    return max(state.days_past_due) >= policy.rules.non_performing_days


def eligible(state: UserState, product: Product, rules: ProductPolicy) -> bool:
    if rules.eligibility == "invited":
        return product in state.invited
    if rules.eligibility == "merchants":
        return state.segment == "merchant"
    return True


def compute_limits(state: UserState, score: int, policy: Policy) -> list[tuple[int, LimitReason]]:
    """(limit in fen, reason) for each product, in PRODUCTS order."""
    if state.status == "closed":
        return [(0, LimitReason.ACCOUNT_CLOSED)] * len(PRODUCTS)
    if non_performing(state, policy):
        return [(0, LimitReason.NON_PERFORMING)] * len(PRODUCTS)
    return [_product_limit(state, product, score, policy) for product in PRODUCTS]


def _product_limit(state: UserState, product: Product, score: int, policy: Policy) -> tuple[int, LimitReason]:
    rules = policy.products[product]
    if not eligible(state, product, rules):
        return 0, LimitReason.NOT_ELIGIBLE
    if score < rules.min_score:
        return 0, LimitReason.SCORE_TOO_LOW
    if rules.sales_share_tiers:
        share = Decimal(0)
        for share_tier in rules.sales_share_tiers:
            if score >= share_tier.min_score:
                share = share_tier.share
        sales = window_sum(state.sales, local_day(state.clock, policy), policy.windows.long_days)
        limit = int((sales * share).to_integral_value(ROUND_FLOOR))
        reason = LimitReason.SALES_VOLUME
    else:
        limit = 0
        for tier in rules.limit_tiers:
            if score >= tier.min_score:
                limit = tier.limit
        reason = LimitReason.SCORE_TIER
        income_cap = _income_cap(state, rules)
        if income_cap is not None and income_cap < limit:
            limit, reason = income_cap, LimitReason.INCOME_MULTIPLE
    if limit > rules.max_limit:
        limit, reason = rules.max_limit, LimitReason.PRODUCT_MAXIMUM
    if limit < rules.min_limit:
        # A product with a floor (installment_loan: 5,000) is not offered below it; never raised to it,
        # which would override the income cap.
        return 0, reason
    return limit, reason


def _income_cap(state: UserState, rules: ProductPolicy) -> int | None:
    if state.monthly_income is None:
        return rules.no_income_limit
    if rules.income_multiple is None:
        return None
    return int((state.monthly_income * rules.income_multiple).to_integral_value(ROUND_FLOOR))
