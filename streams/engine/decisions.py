"""Decisions: approve, partially approve or decline a request, with the reasons, then the price.

The order of work: the product's offer state (not offered or suspended, with its reasons: status,
eligibility, thin file, past due, cooling off, score) and the request's own rules (term, velocity,
minimum) each add their reason and decline together; then the amount is checked against the
product's available limit and the regulatory guardrails, which may cut it to a partial offer; then
the APR by the product model's score tier, clamped to the guardrails. Reasons are produced here,
where the decision is made.
"""

from __future__ import annotations

from schemas.events import PRODUCT_INDEX, Product
from schemas.outputs import DecisionOutcome, Reason
from streams.engine.features import SECONDS_PER_DAY
from streams.engine.limits import personal_loan_income_cap
from streams.engine.offers import offer_reasons
from streams.engine.state import UserState
from streams.engine.view import policy_view
from streams.policy import Policy

__all__ = ["DecisionResult", "available", "decide", "decision_score", "personal_loan_headroom", "score_for"]


class DecisionResult:
    """A decision before it is a record. A plain class: compiled, a frozen dataclass is built
    through an interpreted ``__init__`` that sets each field with ``object.__setattr__`` (0.8 us)."""

    __slots__ = ("approved", "apr", "limit", "outcome", "reasons")

    def __init__(
        self, outcome: DecisionOutcome, approved: int, apr: str, reasons: list[Reason], limit: int
    ) -> None:
        self.outcome: DecisionOutcome = outcome
        self.approved: int = approved  # fen
        self.apr: str = apr
        self.reasons: list[Reason] = reasons
        self.limit: int = limit  # fen: the product limit the decision was taken against


def personal_loan_headroom(state: UserState, policy: Policy) -> tuple[int, int]:
    """(room under the per-person cap, room under the income cap) for personal online loans, in fen."""
    view = policy_view(policy)
    combined = sum(state.outstanding[PRODUCT_INDEX[p]] for p in view.personal_loan_products)
    income_cap = personal_loan_income_cap(state, policy)
    return max(0, view.personal_loan_cap - combined), max(0, income_cap - combined)


def available(state: UserState, product: Product, limit: int, policy: Policy) -> int:
    """What can be borrowed now (fen): the limit less outstanding, within the regulatory and income
    headroom shared by personal loans; 0 when the product is not offered or is suspended (frozen,
    closed, past due). What a user is shown is what an application for that amount gets."""
    if state.status in ("frozen", "closed") or offer_reasons(state, PRODUCT_INDEX[product]):
        return 0
    room = max(0, limit - state.outstanding[PRODUCT_INDEX[product]])
    if policy_view(policy).products[product].personal_loan:
        cap_room, income_room = personal_loan_headroom(state, policy)
        room = min(room, min(cap_room, income_room))
    return room


def score_for(state: UserState, product: Product, policy: Policy) -> int:
    """The score that sizes and prices the product: its model's (merchant for business_loan)."""
    return state.merchant_score if policy_view(policy).products[product].model == "merchant" else state.score


def decision_score(state: UserState, product: Product, policy: Policy) -> int | None:
    """The score a decision reports: its model's, or None where the user has none from that model
    (a consumer asking for business_loan). 0 would read as a score far below the model's range."""
    if policy_view(policy).products[product].model == "merchant" and state.segment != "merchant":
        return None
    return score_for(state, product, policy)


def decide(
    state: UserState, product: Product, amount: int, term_months: int | None, now: int, policy: Policy
) -> DecisionResult:
    """Decide one request against the state as it stands before the request."""
    view = policy_view(policy)
    rules = view.products[product]
    index = PRODUCT_INDEX[product]
    limit = state.limits[index]
    reasons: list[Reason] = offer_reasons(state, index)
    if rules.terms and term_months not in rules.terms:
        reasons.append(Reason.INVALID_TERM)
    if product != "bnpl":
        day_ago = now - SECONDS_PER_DAY
        if sum(1 for t in state.applications if t > day_ago) >= view.max_applications_24h:
            reasons.append(Reason.VELOCITY)
    if amount < rules.min_amount:
        reasons.append(Reason.BELOW_MINIMUM)
    if reasons:
        return DecisionResult("declined", 0, "0", reasons, limit)

    # What each constraint leaves room for; the smallest binds, and only binding ones are reasons.
    rooms = [(Reason.INSUFFICIENT_LIMIT, max(0, limit - state.outstanding[index]))]
    if rules.personal_loan:
        cap_room, income_room = personal_loan_headroom(state, policy)
        rooms += [(Reason.REGULATORY_CAP, cap_room), (Reason.INCOME_CAP, income_room)]
    allowed = min(room for _, room in rooms)

    apr = rules.priced_apr(score_for(state, product, policy), view.guardrails)
    if amount <= allowed:
        return DecisionResult("approved", amount, apr, [], limit)
    binding = [reason for reason, room in rooms if room == allowed]
    if len(binding) > 1 and Reason.INSUFFICIENT_LIMIT in binding:
        # The limit is cut to the guardrails, so when both bind, the guardrail is the cause.
        binding.remove(Reason.INSUFFICIENT_LIMIT)
    offer = allowed - allowed % rules.partial_step
    if rules.allow_partial and offer >= rules.min_amount:
        return DecisionResult("partial", offer, apr, binding, limit)
    if rules.allow_partial:
        binding.append(Reason.BELOW_MINIMUM)  # what could be offered is below the product minimum
    return DecisionResult("declined", 0, "0", binding, limit)
