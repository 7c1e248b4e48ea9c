"""Offer states: for every product, whether the user has it and why not.

``not_offered`` is structural (closed, not eligible, a thin file, a score or sales too low);
``suspended`` is a temporary stop on something the user would otherwise have (frozen, past due,
non-performing, cooling off, a score fallen below the product's minimum while a limit is held),
lifted when it ends. Decisions decline with the same reasons, so
what a user is told about a product and what a request for it gets agree.
"""

from __future__ import annotations

from typing import Any, Final

from schemas.events import PRODUCTS, Product
from schemas.outputs import LimitReason, Reason
from streams.engine.features import any_nonzero, local_day
from streams.engine.limits import (
    Limit,
    cooling_off,
    eligible,
    non_performing_for,
    overdue_for,
    thin_file,
)
from streams.engine.state import UserState
from streams.engine.view import policy_view
from streams.policy import Policy

__all__ = ["compute_offers", "offer_reasons"]

# Why a product sized at 0 is not offered, by what sized it.
_ZERO_LIMIT_REASON: Final = {
    LimitReason.SALES_VOLUME: Reason.NO_SALES,
    LimitReason.INCOME_MULTIPLE: Reason.INCOME_CAP,
    LimitReason.INCOME_CAP: Reason.INCOME_CAP,
    LimitReason.REGULATORY_CAP: Reason.REGULATORY_CAP,
    LimitReason.THIN_FILE: Reason.THIN_FILE,
}


def compute_offers(state: UserState, limits: list[Limit], policy: Policy) -> list[list[Any]]:
    """[state, [reason codes]] per product, in PRODUCTS order.

    Remembered on the state (as ``limits_now``) by all it reads: status, segment, invitations, the
    thin-file test, past due, the cooling-off clock and the limits. The offers are shared, never changed in
    place (UserState.copy)."""
    cured = state.cured_default_day
    key = (
        state.status,
        state.segment,
        tuple(state.invited),
        state.monthly_income is None,
        any_nonzero(state.on_time),
        tuple(state.days_past_due),
        cured,
        local_day(state.clock, policy) if cured >= 0 else -1,
        tuple(limits),
        _below_minimum(state, policy),
    )
    own = state.offers_memo  # this user's last (policy, key, offers): the usual hit
    if own and own[0] is policy and own[1] == key:
        return list(own[2])
    known = [_offer(state, product, limit, policy) for product, limit in zip(PRODUCTS, limits)]
    state.offers_memo = (policy, key, known)
    return list(known)


def _offer(state: UserState, product: Product, limit: Limit, policy: Policy) -> list[Any]:
    rules = policy_view(policy).products[product]
    eligibility = rules.eligibility
    not_offered: list[Reason] = []
    if state.status == "closed":
        not_offered.append(Reason.ACCOUNT_CLOSED)
    if not eligible(state, product, eligibility):
        not_offered.append(Reason.NOT_INVITED if eligibility == "invited" else Reason.NOT_MERCHANT)
    if rules.thin_file and thin_file(state):
        not_offered.append(Reason.THIN_FILE)
    suspended: list[Reason] = []
    if state.status == "frozen":
        suspended.append(Reason.ACCOUNT_FROZEN)
    if non_performing_for(state, product, policy):
        suspended.append(Reason.NON_PERFORMING)
    elif overdue_for(state, product, policy):
        suspended.append(Reason.OVERDUE)
    if cooling_off(state, product, policy):
        suspended.append(Reason.COOLING_OFF)
    if not_offered:
        return ["not_offered", [str(r) for r in not_offered + suspended]]
    if suspended:
        return ["suspended", [str(r) for r in suspended]]
    amount, reason = limit
    if amount == 0:
        return ["not_offered", [str(_ZERO_LIMIT_REASON.get(reason, Reason.SCORE_TOO_LOW))]]
    if _score(state, rules.model) < rules.min_score:
        # A limit held from a higher score (limits fall only on risk signals, and under a policy
        # that scores utilisation a fall can come from drawing the line as offered) lends nothing
        # while the score is below the product's minimum: what is owed stays owed, and the held
        # limit comes back when the score does.
        return ["suspended", [str(Reason.SCORE_TOO_LOW)]]
    return ["offered", []]


def _score(state: UserState, model: str) -> int:
    return state.merchant_score if model == "merchant" else state.score


def _below_minimum(state: UserState, policy: Policy) -> int:
    """Which products' model scores are below their minimum, as bits (a memo key)."""
    bits = 0
    for index, rules in enumerate(policy_view(policy).products.values()):
        if _score(state, rules.model) < rules.min_score:
            bits |= 1 << index
    return bits


def offer_reasons(state: UserState, index: int) -> list[Reason]:
    """The reasons a product is not offered or suspended now (empty when it is offered)."""
    if index >= len(state.offers):
        return []
    return [Reason(code) for code in state.offers[index][1]]
