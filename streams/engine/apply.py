"""The one entry point of the credit engine: apply(state, event, policy) -> Applied.

Pure and deterministic: no I/O, no clock, no randomness, no globals; the input state is never
mutated. The live worker and `creditstream replay` both call this, so they decide alike.

Outputs for one event come in a fixed order: the decision (if the event is a request), then
score_changed (if the score moved), then limit_changed for each product whose limit moved, in
product order (bnpl, cash_loan, installment_loan, business_loan).
"""

from __future__ import annotations

import uuid
from bisect import insort
from dataclasses import dataclass, field
from typing import Final, TypeVar

from schemas.events import (
    PRODUCT_INDEX,
    PRODUCTS,
    AccountOpened,
    AccountStatus,
    Application,
    Delinquency,
    Event,
    Product,
    Purchase,
    Refund,
    Repayment,
    Sale,
)
from schemas.money import fen_to_yuan
from schemas.outputs import Decision, LimitChanged, ScoreChanged
from streams.engine.decisions import DecisionResult, available, decide
from streams.engine.features import (
    add_to_window,
    compute_features,
    epoch_seconds,
    local_date,
    local_day,
    prune,
    prune_applications,
)
from streams.engine.limits import compute_limits, non_performing
from streams.engine.scoring import score, top_factors
from streams.engine.state import StoredDecision, StoredPurchase, UserState
from streams.policy import Policy

__all__ = ["Applied", "EngineOutput", "apply", "decision_id", "new_user"]

EngineOutput = Decision | ScoreChanged | LimitChanged
_DECISION_NAMESPACE: Final = uuid.UUID("2f0c6b4e-6a36-4c7e-9d8a-7c0f2b1d5e93")
_MAX_LATE_DAYS_KEPT: Final = 64
_PEAKS_KEPT: Final = 32
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying one event gave.

    ``rejection`` is set when the event is well formed but cannot be applied (a refund of an unknown
    purchase, or larger than what is left of it): the shell sends it to the dead-letter topic.
    ``duplicate`` is set for an event_id already applied: nothing changed, and a request's original
    decision is in ``outputs`` again.
    """

    state: UserState
    outputs: list[EngineOutput] = field(default_factory=list)
    rejection: str | None = None
    duplicate: bool = False


def decision_id(user_id: str, request_event_id: str) -> str:
    """A decision's id, derived from the request so that a redelivery gets the same id."""
    return str(uuid.uuid5(_DECISION_NAMESPACE, f"{user_id}\x00{request_event_id}"))


def new_user(event: Event, policy: Policy) -> UserState:
    """The documented default profile, scored and limited, for a user first seen at ``event``."""
    now = epoch_seconds(event.occurred_at)
    state = UserState(
        user_id=event.user_id,
        segment=policy.default_profile.segment,
        status="active",
        opened_at=now,
        clock=now,
    )
    # Scored twice: first with no line at all (utilisation does not apply), then with the line
    # that score gives, so that a first request is decided as for a user who already has it.
    for _ in range(2):
        state.score, state.factor_points = score(compute_features(state, policy, 0), policy)
        state.limits = [limit for limit, _ in compute_limits(state, state.score, policy, 0)]
    return state


def apply(state: UserState | None, event: Event, policy: Policy) -> Applied:
    """Apply one validated event to a user's state (None for a user not seen before)."""
    if state is not None and event.event_id in state.seen:
        stored = state.decisions.get(event.event_id)
        replayed: list[EngineOutput] = (
            [_stored_decision(state.user_id, event.event_id, stored)] if stored else []
        )
        return Applied(state, replayed, duplicate=True)

    if state is None:
        new = new_user(event, policy)
        previous_score, previous_points, previous_limits = None, None, [0] * len(PRODUCTS)
    else:
        new = state.copy()
        previous_score, previous_points, previous_limits = state.score, state.factor_points, state.limits
    _remember(new.seen, event.event_id, policy.memory.event_ids, None)
    now = epoch_seconds(event.occurred_at)

    outputs: list[EngineOutput] = []
    rejection = _refund_problem(new, event) if isinstance(event, Refund) else None
    if rejection is not None:
        # Nothing changes but the memory of the id: a redelivery is not dead-lettered twice.
        base = state.copy() if state is not None else new
        _remember(base.seen, event.event_id, policy.memory.event_ids, None)
        return Applied(base, [], rejection=rejection)

    previous_day = local_day(new.clock, policy)
    new.clock = max(new.clock, now)
    if local_day(new.clock, policy) != previous_day:
        prune(new, policy)
    prune_applications(new, policy)
    if isinstance(event, Application | Purchase):
        decision = _handle_request(new, event, now, policy)
        if decision is not None:
            outputs.append(decision)
    else:
        _handle_fact(new, event, now, policy)

    sales = sum(new.sales.values())
    new.score, new.factor_points = score(compute_features(new, policy, sales), policy)
    limits = compute_limits(new, new.score, policy, sales)
    new.limits = [limit for limit, _ in limits]

    changed_at = event.occurred_at
    if new.score != previous_score:
        outputs.append(
            ScoreChanged.model_construct(
                user_id=new.user_id,
                score=new.score,
                previous_score=previous_score,
                cause_event_id=event.event_id,
                reasons=top_factors(previous_points, new.factor_points, policy),
                changed_at=changed_at,
                policy_version=policy.version,
            )
        )
    for product, (limit, reason), previous in zip(PRODUCTS, limits, previous_limits, strict=True):
        if limit != previous:
            outputs.append(
                LimitChanged.model_construct(
                    user_id=new.user_id,
                    product=product,
                    limit=limit,
                    previous_limit=previous,
                    cause_event_id=event.event_id,
                    reason=reason,
                    changed_at=changed_at,
                    policy_version=policy.version,
                )
            )
    return Applied(new, outputs)


# -- requests: applications and credit purchases -------------------------------------------------


def _handle_request(
    state: UserState, event: Application | Purchase, now: int, policy: Policy
) -> Decision | None:
    day = local_day(now, policy)
    if isinstance(event, Purchase):
        if event.funding == "own":
            add_to_window(state, state.spend, day, event.amount, policy)
            _remember_purchase(state, event.event_id, StoredPurchase(event.amount, 0, 0, day), policy)
            return None
        product: Product = "bnpl"
        term: int | None = None
    else:
        product, term = event.product, event.term_months

    result = decide(state, product, event.amount, term, now, policy)
    if isinstance(event, Application):
        insort(state.applications, now)
    if result.approved:
        _book(state, PRODUCT_INDEX[product], result.approved)
        if isinstance(event, Purchase):
            add_to_window(state, state.spend, day, result.approved, policy)
            _remember_purchase(state, event.event_id, StoredPurchase(result.approved, 0, 1, day), policy)
    available_after = available(state, product, result.limit, policy)
    stored = _store_decision(product, event, term, result, available_after, state.score, policy)
    _remember(state.decisions, event.event_id, policy.memory.decisions, stored)
    return Decision.model_construct(
        decision_id=decision_id(state.user_id, event.event_id),
        request_event_id=event.event_id,
        user_id=state.user_id,
        product=product,
        outcome=result.outcome,
        requested_amount=event.amount,
        approved_amount=result.approved,
        apr=result.apr,
        term_months=term,
        reasons=result.reasons,
        score=state.score,
        limit=result.limit,
        available_after=available_after,
        decided_at=event.occurred_at,
        policy_version=policy.version,
    )


def _book(state: UserState, index: int, amount: int) -> None:
    """Add an approved amount to outstanding, net of any credit balance from overpayments."""
    from_balance = min(state.credit_balance[index], amount)
    state.credit_balance[index] -= from_balance
    state.outstanding[index] += amount - from_balance


def _store_decision(
    product: Product,
    event: Application | Purchase,
    term: int | None,
    result: DecisionResult,
    available_after: int,
    score_now: int,
    policy: Policy,
) -> StoredDecision:
    return StoredDecision(
        product,
        result.outcome,
        event.amount,
        result.approved,
        result.apr,
        term,
        tuple(str(r) for r in result.reasons),
        score_now,
        result.limit,
        available_after,
        event.occurred_at.isoformat(),
        policy.version,
    )


def _stored_decision(user_id: str, event_id: str, stored: StoredDecision) -> Decision:
    """A kept decision, rebuilt (and validated) for re-emission on a redelivered request."""
    return Decision.model_validate(
        {
            "decision_id": decision_id(user_id, event_id),
            "request_event_id": event_id,
            "user_id": user_id,
            "product": stored.product,
            "outcome": stored.outcome,
            "requested_amount": stored.requested,
            "approved_amount": stored.approved,
            "apr": stored.apr,
            "term_months": stored.term_months,
            "reasons": list(stored.reasons),
            "score": stored.score,
            "limit": stored.limit,
            "available_after": stored.available_after,
            "decided_at": stored.decided_at,
            "policy_version": stored.policy_version,
        }
    )


# -- facts: everything that is not a request -------------------------------------------------------


def _handle_fact(state: UserState, event: Event, now: int, policy: Policy) -> None:
    day = local_day(now, policy)
    if isinstance(event, AccountOpened):
        state.segment = event.segment
        state.monthly_income = event.monthly_income
        state.invited = list(dict.fromkeys(event.invited_products))
        state.opened_at = min(state.opened_at, now)
    elif isinstance(event, AccountStatus):
        state.status = event.status
    elif isinstance(event, Sale):
        add_to_window(state, state.sales, day, event.amount, policy)
    elif isinstance(event, Refund):
        _apply_refund(state, event, day, policy)
    elif isinstance(event, Repayment):
        _apply_repayment(state, event, now, policy)
    elif isinstance(event, Delinquency):
        _apply_delinquency(state, event, day, policy)


def _refund_problem(state: UserState, refund: Refund) -> str | None:
    """Why a refund cannot be applied, or None."""
    target = refund.purchase_event_id
    purchase = state.purchases.get(target)
    if purchase is None:
        stored = state.decisions.get(target)
        if stored is not None and stored.outcome == "declined":
            return f"purchase_event_id: purchase {target!r} was declined, so there is nothing to refund"
        return (
            f"purchase_event_id: unknown purchase {target!r} (not among this user's recent purchases); "
            "refund not applied"
        )
    remaining = purchase.amount - purchase.refunded
    if refund.amount > remaining:
        return (
            f"amount: refund of {fen_to_yuan(refund.amount)} exceeds what is left of purchase {target!r} "
            f"({fen_to_yuan(remaining)} of {fen_to_yuan(purchase.amount)}); refund not applied"
        )
    return None


def _apply_refund(state: UserState, refund: Refund, day: int, policy: Policy) -> None:
    purchase = state.purchases[refund.purchase_event_id]
    state.purchases[refund.purchase_event_id] = purchase._replace(refunded=purchase.refunded + refund.amount)
    add_to_window(state, state.refunds, day, refund.amount, policy)
    if purchase.by_credit:  # a credit purchase: the bnpl limit comes back
        index = PRODUCT_INDEX["bnpl"]
        repaid = min(refund.amount, state.outstanding[index])
        state.outstanding[index] -= repaid
        state.credit_balance[index] += refund.amount - repaid


def _apply_repayment(state: UserState, repayment: Repayment, now: int, policy: Policy) -> None:
    index = PRODUCT_INDEX[repayment.product]
    owed = state.outstanding[index]
    paid = min(owed, repayment.amount)
    state.outstanding[index] = owed - paid
    state.credit_balance[index] += repayment.amount - paid  # an overpayment is kept, not lost
    if owed == 0:
        return  # nothing was owed: not a repayment behaviour the score should reward
    days_late = (local_date(now, policy) - repayment.due_date).days
    if days_late > policy.rules.grace_days:
        insort(state.late_repayment_days, local_day(now, policy))
        del state.late_repayment_days[:-_MAX_LATE_DAYS_KEPT]
    else:
        state.on_time_repayments += 1


def _apply_delinquency(state: UserState, report: Delinquency, day: int, policy: Policy) -> None:
    index = PRODUCT_INDEX[report.product]
    was_non_performing = non_performing(state, policy)
    state.days_past_due[index] = report.days_past_due
    if was_non_performing and not non_performing(state, policy):
        state.cured_default_day = day  # cured: the cooling-off period starts
    state.amount_overdue[index] = report.amount_overdue
    if report.days_past_due > 0:
        _remember_peak(state.delinquency_peaks, day, report.days_past_due)


def _remember_peak(peaks: list[list[int]], day: int, days_past_due: int) -> None:
    """Keep every delinquency that can still be the worst in the window: a newer, equal or larger
    one outlives the older ones it covers, so those go; a smaller one stays for when they expire."""
    while peaks and peaks[-1][1] <= days_past_due:
        peaks.pop()
    peaks.append([day, days_past_due])
    del peaks[:-_PEAKS_KEPT]


# -- bounded memories ----------------------------------------------------------------------------


def _remember(memory: dict[str, V], key: str, bound: int, value: V) -> None:
    """Insert, then drop the oldest entries beyond ``bound``."""
    memory[key] = value
    while len(memory) > bound:
        del memory[next(iter(memory))]


def _remember_purchase(state: UserState, event_id: str, purchase: StoredPurchase, policy: Policy) -> None:
    _remember(state.purchases, event_id, policy.memory.purchases, purchase)
