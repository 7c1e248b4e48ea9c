"""The one entry point of the credit engine: apply(state, event, policy) -> Applied.

Pure and deterministic: no I/O, no clock, no randomness, no globals; the input state is never
mutated. The live worker and `creditstream replay` both call this, so they decide alike.

Outputs for one event come in a fixed order: the decision (if the event is a request), then
score_changed for each score that moved (consumer, then merchant), then limit_changed for each
product whose limit moved, in product order (bnpl, cash_loan, installment_loan, business_loan),
then offer_changed when any product's offer (state, limit or reasons) changed, and on a user's
first event.
"""

from __future__ import annotations

import hashlib
import uuid
from bisect import insort
from datetime import date, datetime
from typing import Any, Final, TypeVar, cast

from pydantic import BaseModel

from schemas.events import (
    PRODUCT_INDEX,
    PRODUCTS,
    AccountOpened,
    AccountStatus,
    Application,
    Delinquency,
    Event,
    InvitationChanged,
    Product,
    Purchase,
    Refund,
    Repayment,
    Sale,
    SaleRefund,
)
from schemas.money import fen_to_yuan
from schemas.outputs import Decision, LimitChanged, Offer, OfferChanged, Reason, ScoreChanged, ScoreModel
from streams.engine.decisions import DecisionResult, available, decide, decision_score
from streams.engine.features import (
    add_to_window,
    day_in,
    epoch_seconds,
    feature_values,
    local_date,
    local_day,
    prune,
    prune_applications,
    window_total,
)
from streams.engine.limits import Limit, limits_now, non_performing
from streams.engine.offers import compute_offers
from streams.engine.scoring import score_values, top_factors
from streams.engine.state import (
    PurchaseRecord,
    StoredDecision,
    UserState,
    decision_entry,
    decision_outcome,
    decision_record,
    purchase_entry,
    purchase_record,
)
from streams.engine.view import PolicyView, policy_view
from streams.policy import Policy

__all__ = ["Applied", "EngineOutput", "apply", "decision_id", "new_user"]

EngineOutput = Decision | ScoreChanged | LimitChanged | OfferChanged
_DECISION_NAMESPACE: Final = uuid.UUID("2f0c6b4e-6a36-4c7e-9d8a-7c0f2b1d5e93")
_NAMESPACE_BYTES: Final = _DECISION_NAMESPACE.bytes
_MAX_LATE_DAYS_KEPT: Final = 64
_PEAKS_KEPT: Final = 32
_BILLS_KEPT: Final = 24
_BILL_OPEN, _BILL_ON_TIME, _BILL_LATE = 0, 1, 2
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_BNPL_PURCHASES_KEPT: Final = 64
V = TypeVar("V")
Sorted = TypeVar("Sorted", int, list[int])


M = TypeVar("M", bound=BaseModel)


def _construct(model_class: type[M], /, **fields: Any) -> M:
    """What ``model_class.model_construct(**fields)`` builds (no validation: the engine's values
    are right by construction) at a third of its cost, which was a tenth of replay's time.

    ``fields`` come in the model's field order, every one of them, the type tag first where the
    model has one: the wire JSON follows this order (tests/unit/engine/test_rules.py compares with
    model_construct). The keyword dict is this call's own, so it becomes the record's."""
    record = model_class.__new__(model_class)
    object.__setattr__(record, "__dict__", fields)
    object.__setattr__(record, "__pydantic_fields_set__", set(fields))
    object.__setattr__(record, "__pydantic_extra__", None)
    object.__setattr__(record, "__pydantic_private__", None)
    return record


class Applied:
    """What applying one event gave.

    ``rejection`` is set when the event is well formed but cannot be applied (a refund of an unknown
    purchase, or larger than what is left of it): the shell sends it to the dead-letter topic.
    ``duplicate`` is set for an event_id already applied: nothing changed, and a request's original
    decision is in ``outputs`` again.

    A plain class, not a dataclass: mypyc builds a compiled dataclass through the ``__init__`` the
    dataclasses module writes, interpreted (0.28 us), and this one natively, once an event.
    """

    __slots__ = ("duplicate", "outputs", "rejection", "state")

    def __init__(
        self,
        state: UserState,
        outputs: list[EngineOutput] | None = None,
        rejection: str | None = None,
        duplicate: bool = False,
    ) -> None:
        self.state: UserState = state
        self.outputs: list[EngineOutput] = [] if outputs is None else outputs
        self.rejection: str | None = rejection
        self.duplicate: bool = duplicate


def decision_id(user_id: str, request_event_id: str) -> str:
    """A decision's id, derived from the request so that a redelivery gets the same id: the
    RFC 4122 version-5 UUID of the user and request, spelled out here because ``uuid.uuid5``
    builds a UUID object per call (4% of replay's time); tests compare the two."""
    name = f"{user_id}\x00{request_event_id}".encode()
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def new_user(event: Event, policy: Policy) -> UserState:
    """The documented default profile, scored and limited, for a user first seen at ``event``."""
    now = epoch_seconds(event.occurred_at)
    state = UserState(
        user_id=event.user_id,
        segment=policy_view(policy).default_segment,
        status="active",
        opened_at=now,
        clock=now,
    )
    # Scored twice: first with no line at all (utilisation does not apply), then with the line
    # that score gives, so that a first request is decided as for a user who already has it.
    for _ in range(2):
        limits = _rescore(state, [0] * len(PRODUCTS), policy)
    state.offers = compute_offers(state, limits, policy)
    return state


def _rescore(state: UserState, previous_limits: list[int], policy: Policy) -> list[Limit]:
    """Score the user by each model, then size and settle the limits (which it stores)."""
    sales = window_total(state.sales)
    view = policy_view(policy)
    card = view.consumer_card
    state.score, state.factor_points = score_values(
        feature_values(state, policy, sales, card.products, card.needs), card
    )
    merchant = view.merchant_card
    if merchant is not None and state.segment == "merchant":
        state.merchant_score, state.merchant_points = score_values(
            feature_values(state, policy, sales, merchant.products, merchant.needs), merchant
        )
    else:
        state.merchant_score, state.merchant_points = 0, []
    scores = {"consumer": state.score, "merchant": state.merchant_score}
    limits = limits_now(state, previous_limits, scores, policy, sales)
    state.limits = [limit for limit, _ in limits]
    return limits


class _Before:
    """What the outputs of an event compare with, read before the event changes anything. The
    engine replaces these containers whole, never changes them in place, so holding them is enough
    when the state itself is changed in place (``owned``). A plain class, not a NamedTuple: the
    compiled engine builds it natively, where a NamedTuple's ``__new__`` runs as Python."""

    __slots__ = ("factor_points", "limits", "merchant_points", "merchant_score", "offers", "score", "segment")

    def __init__(self, state: UserState) -> None:
        self.score: int = state.score
        self.factor_points: list[int] = state.factor_points
        self.segment: str = state.segment
        self.merchant_score: int = state.merchant_score
        self.merchant_points: list[int] = state.merchant_points
        self.limits: list[int] = state.limits
        self.offers: list[list[Any]] = state.offers


def apply(state: UserState | None, event: Event, policy: Policy, *, owned: bool = False) -> Applied:
    """Apply one validated event to a user's state (None for a user not seen before).

    ``owned``: the caller gives ``state`` up and keeps only the result (replay, backtest), so it is
    changed in place rather than copied first. Otherwise it is left exactly as it was."""
    event_id = event.event_id  # each read of an event's field is a pydantic attribute read
    if state is not None and event_id in state.seen:
        stored = state.decisions.get(event_id)
        replayed: list[EngineOutput] = (
            [_stored_decision(state.user_id, event_id, stored, policy)] if stored else []
        )
        return Applied(state, replayed, duplicate=True)

    if state is None:
        new = new_user(event, policy)
        previous: _Before | None = None
    else:
        previous = _Before(state)
        new = state if owned else state.copy()
    view = policy_view(policy)
    _remember(new.seen, event_id, view.event_ids_kept, None)
    changed_at = event.occurred_at
    now = epoch_seconds(changed_at)

    outputs: list[EngineOutput] = []
    # Event types by exact type: events are never subclassed, and a failed isinstance() against a
    # pydantic model class goes through its metaclass's __instancecheck__ (about 700 instructions).
    rejection = _refund_problem(new, event) if type(event) is Refund else None
    if rejection is not None:
        # Nothing changes but the memory of the id: a redelivery is not dead-lettered twice.
        return Applied(new, [], rejection=rejection)

    previous_day = day_in(new.clock, view)
    new.clock = max(new.clock, now)
    new_day = day_in(new.clock, view) != previous_day
    if new_day:
        prune(new, policy)
    prune_applications(new, policy)
    refreshed: list[Limit] | None = None
    if type(event) is Application or type(event) is Purchase:
        if new_day:
            # A new day can end a cooling-off or move a window: decide on the offers as of today.
            refreshed = _rescore(new, new.limits, policy)
            new.offers = compute_offers(new, refreshed, policy)
        decision = _handle_request(new, event, now, policy)
        if decision is not None:
            outputs.append(decision)
    else:
        _handle_fact(new, event, now, policy)

    previous_limits = previous.limits if previous is not None else [0] * len(PRODUCTS)
    limits = _rescore(new, new.limits, policy)
    # The engine's per-product lists all have one item per product, so its zips go without
    # strict=: with a keyword argument, mypyc no longer compiles ``zip`` to its native loop, and
    # calls the builtin (about 1,800 instructions a loop).
    if refreshed is not None:
        # A limit the refresh moved and the request left alone changed for the refresh's reason.
        limits = [before if before[0] == after[0] else after for before, after in zip(refreshed, limits)]
    new.offers = compute_offers(new, limits, policy)

    scores: list[tuple[ScoreModel, int, int | None, list[int] | None, list[int]]] = [
        ("consumer", new.score, previous.score if previous else None,
         previous.factor_points if previous else None, new.factor_points),
    ]  # fmt: skip
    if view.merchant_card is not None and new.segment == "merchant":
        was_merchant = previous is not None and previous.segment == "merchant"
        scores.append(
            ("merchant", new.merchant_score, previous.merchant_score if was_merchant and previous else None,
             previous.merchant_points if was_merchant and previous else None, new.merchant_points)
        )  # fmt: skip
    for model, now_score, before, before_points, points in scores:
        if now_score != before:
            card_view = view.consumer_card if model == "consumer" else view.merchant_card
            assert card_view is not None
            outputs.append(
                _construct(
                    ScoreChanged,
                    type="score_changed",
                    user_id=new.user_id,
                    model=model,
                    score=now_score,
                    previous_score=before,
                    cause_event_id=event_id,
                    reasons=top_factors(before_points, points, card_view.card),
                    changed_at=changed_at,
                    policy_version=view.version,
                )
            )
    for product, (limit, reason), before_limit in zip(PRODUCTS, limits, previous_limits):
        if limit != before_limit:
            outputs.append(
                _construct(
                    LimitChanged,
                    type="limit_changed",
                    user_id=new.user_id,
                    product=product,
                    limit=limit,
                    previous_limit=before_limit,
                    cause_event_id=event_id,
                    reason=reason,
                    changed_at=changed_at,
                    policy_version=view.version,
                )
            )
    if previous is None or new.offers != previous.offers or new.limits != previous.limits:
        outputs.append(offer_changed(new, event_id, changed_at, policy))
    return Applied(new, outputs)


def offer_changed(
    state: UserState, cause_event_id: str, changed_at: datetime, policy: Policy
) -> OfferChanged:
    """The user's whole offer picture, as a record for the compacted offers topic."""
    return _construct(
        OfferChanged,
        type="offer_changed",
        user_id=state.user_id,
        offers=[
            _construct(
                Offer, product=product, state=offer[0], limit=limit, reasons=[Reason(r) for r in offer[1]]
            )
            for product, offer, limit in zip(PRODUCTS, state.offers, state.limits)
        ],
        cause_event_id=cause_event_id,
        changed_at=changed_at,
        policy_version=policy_view(policy).version,
    )


# -- requests: applications and credit purchases -------------------------------------------------


def _handle_request(
    state: UserState, event: Application | Purchase, now: int, policy: Policy
) -> Decision | None:
    view = policy_view(policy)
    day = day_in(now, view)
    event_id, amount = event.event_id, event.amount  # pydantic attribute reads: once each
    if isinstance(event, Purchase):  # narrows both ways (purchases are most requests)
        if event.funding == "own":
            state.spend = add_to_window(state, state.spend, day, amount, policy)
            _remember_purchase(state, event_id, (amount, 0, 0, day), policy)
            return None
        product: Product = "bnpl"
        term: int | None = None
    else:
        product, term = event.product, event.term_months

    result = decide(state, product, amount, term, now, policy)
    if type(event) is Application:
        state.applications = _inserted(state.applications, now)
    if result.approved:
        _book(state, PRODUCT_INDEX[product], result.approved)
        if type(event) is Purchase:
            state.bnpl_purchases = _inserted(state.bnpl_purchases, now)[-_BNPL_PURCHASES_KEPT:]
            state.spend = add_to_window(state, state.spend, day, result.approved, policy)
            _remember_purchase(state, event_id, (result.approved, 0, 1, day), policy)
    available_after = available(state, product, result.limit, policy)
    score_now = decision_score(state, product, policy)
    decided_at = event.occurred_at
    stored = _store_decision(product, amount, decided_at, term, result, available_after, score_now, view)
    state.decisions = dict(state.decisions)  # shared with the state it was copied from
    _remember(state.decisions, event_id, view.decisions_kept, stored)
    return _construct(
        Decision,
        type="decision",
        decision_id=decision_id(state.user_id, event_id),
        request_event_id=event_id,
        user_id=state.user_id,
        product=product,
        outcome=result.outcome,
        requested_amount=amount,
        approved_amount=result.approved,
        apr=result.apr,
        term_months=term,
        reasons=result.reasons,
        score=score_now,
        score_model=view.products[product].model,
        limit=result.limit,
        available_after=available_after,
        decided_at=decided_at,
        policy_version=view.version,
    )


def _book(state: UserState, index: int, amount: int) -> None:
    """Add an approved amount to outstanding, net of any credit balance from overpayments."""
    from_balance = min(state.credit_balance[index], amount)
    state.credit_balance[index] -= from_balance
    state.outstanding[index] += amount - from_balance


def _store_decision(
    product: Product,
    amount: int,
    decided_at: datetime,
    term: int | None,
    result: DecisionResult,
    available_after: int,
    score_now: int | None,
    view: PolicyView,
) -> StoredDecision:
    return decision_entry(
        (
            product,
            result.outcome,
            amount,
            result.approved,
            result.apr,
            term,
            tuple(str(r) for r in result.reasons),
            score_now,
            result.limit,
            available_after,
            decided_at.isoformat(),
            view.version,
        )
    )


def _stored_decision(user_id: str, event_id: str, stored: StoredDecision, policy: Policy) -> Decision:
    """A kept decision, rebuilt (and validated) for re-emission on a redelivered request."""
    (product, outcome, requested, approved, apr, term_months, reasons, score, limit, available_after,
     decided_at, policy_version) = decision_record(stored)  # fmt: skip
    return Decision.model_validate(
        {
            "decision_id": decision_id(user_id, event_id),
            "request_event_id": event_id,
            "user_id": user_id,
            "product": product,
            "outcome": outcome,
            "requested_amount": requested,
            "approved_amount": approved,
            "apr": apr,
            "term_months": term_months,
            "reasons": list(reasons),
            "score": score or None,  # a state kept by creditstream 0.1 stored "no score" as 0
            "score_model": policy_view(policy).products[cast(Product, product)].model,
            "limit": limit,
            "available_after": available_after,
            "decided_at": decided_at,
            "policy_version": policy_version,
        }
    )


# -- facts: everything that is not a request -------------------------------------------------------


def _handle_fact(state: UserState, event: Event, now: int, policy: Policy) -> None:
    day = local_day(now, policy)
    if type(event) is AccountOpened:
        state.segment = event.segment
        state.monthly_income = event.monthly_income
        state.invited = list(dict.fromkeys(event.invited_products))
        state.opened_at = min(state.opened_at, now)
        state.account_known = True
    elif type(event) is InvitationChanged:
        if event.action == "granted" and event.product not in state.invited:
            state.invited = [*state.invited, event.product]
        elif event.action == "revoked" and event.product in state.invited:
            state.invited = list(state.invited)  # shared with the state it was copied from
            state.invited.remove(event.product)
    elif type(event) is AccountStatus:
        state.status = event.status
    elif type(event) is Sale:
        state.sales = add_to_window(state, state.sales, day, event.amount, policy)
    elif type(event) is SaleRefund:
        state.shop_refunds = add_to_window(state, state.shop_refunds, day, event.amount, policy)
    elif type(event) is Refund:
        _apply_refund(state, event, day, policy)
    elif type(event) is Repayment:
        _apply_repayment(state, event, now, policy)
    elif type(event) is Delinquency:
        _apply_delinquency(state, event, day, policy)


def _refund_problem(state: UserState, refund: Refund) -> str | None:
    """Why a refund cannot be applied, or None."""
    target = refund.purchase_event_id
    purchase = state.purchases.get(target)
    if purchase is None:
        stored = state.decisions.get(target)
        if stored is not None and decision_outcome(stored) == "declined":
            return f"purchase_event_id: purchase {target!r} was declined, so there is nothing to refund"
        return (
            f"purchase_event_id: unknown purchase {target!r} (not among this user's recent purchases); "
            "refund not applied"
        )
    amount, refunded, _, _ = purchase_record(purchase)
    remaining = amount - refunded
    if refund.amount > remaining:
        return (
            f"amount: refund of {fen_to_yuan(refund.amount)} exceeds what is left of purchase {target!r} "
            f"({fen_to_yuan(remaining)} of {fen_to_yuan(amount)}); refund not applied"
        )
    return None


def _apply_refund(state: UserState, refund: Refund, day: int, policy: Policy) -> None:
    amount, refunded, by_credit, purchase_day = purchase_record(state.purchases[refund.purchase_event_id])
    state.purchases = dict(state.purchases)  # shared with the state it was copied from
    state.purchases[refund.purchase_event_id] = purchase_entry(
        (amount, refunded + refund.amount, by_credit, purchase_day)
    )
    state.refunds = add_to_window(state, state.refunds, day, refund.amount, policy)
    if by_credit:  # a credit purchase: the bnpl limit comes back
        index = PRODUCT_INDEX["bnpl"]
        repaid = min(refund.amount, state.outstanding[index])
        state.outstanding[index] -= repaid
        state.credit_balance[index] += refund.amount - repaid


def _apply_repayment(state: UserState, repayment: Repayment, now: int, policy: Policy) -> None:
    """Principal pays down the balance (an overpayment of it stays the user's credit balance);
    interest and fees pay the bill but never become borrowing power. The bill counts once: on time
    when at least the amount due is paid by the due date plus grace, late when paid after it."""
    index = PRODUCT_INDEX[repayment.product]
    owed = state.outstanding[index]
    principal = repayment.principal_paid
    paid = min(owed, principal)
    state.outstanding[index] = owed - paid
    state.credit_balance[index] += principal - paid
    due_day = repayment.due_date.toordinal() - _EPOCH_ORDINAL
    key = f"{index}:{due_day}"
    state.bills = dict(state.bills)  # shared with the state it was copied from
    bill = state.bills.get(key)
    if bill is None:
        if owed == 0:
            return  # nothing was owed: not a repayment behaviour the score should reward
        due = repayment.amount_due or owed + repayment.interest + repayment.fees
        bill = state.bills[key] = [due, 0, _BILL_OPEN]
        while len(state.bills) > _BILLS_KEPT:
            del state.bills[min(state.bills, key=lambda k: int(k.partition(":")[2]))]
    # Replaced, never changed in place: a state's copy shares its bills (UserState.copy).
    bill = state.bills[key] = [bill[0], bill[1] + repayment.amount, bill[2]]
    if bill[2] != _BILL_OPEN:
        return  # the bill has counted already: paying it again earns nothing more
    days_late = (local_date(now, policy) - repayment.due_date).days
    if days_late > policy_view(policy).grace_days:
        bill[2] = _BILL_LATE
        late = _inserted(state.late_repayments, [local_day(now, policy), index])
        state.late_repayments = late[-_MAX_LATE_DAYS_KEPT:]
    elif bill[1] >= bill[0]:
        bill[2] = _BILL_ON_TIME
        state.on_time = list(state.on_time)  # shared with the state it was copied from
        state.on_time[index] += 1


def _apply_delinquency(state: UserState, report: Delinquency, day: int, policy: Policy) -> None:
    index = PRODUCT_INDEX[report.product]
    was_non_performing = non_performing(state, policy)
    # The three are shared with the state this one was copied from: replaced, never changed.
    state.days_past_due = list(state.days_past_due)
    state.days_past_due[index] = report.days_past_due
    if was_non_performing and not non_performing(state, policy):
        state.cured_default_day = day  # cured: the cooling-off period starts
    state.amount_overdue = list(state.amount_overdue)
    state.amount_overdue[index] = report.amount_overdue
    if report.days_past_due > 0:
        peaks = list(state.delinquency_peaks)
        peaks[index] = list(peaks[index])
        _remember_peak(peaks[index], day, report.days_past_due)
        state.delinquency_peaks = peaks


def _remember_peak(peaks: list[list[int]], day: int, days_past_due: int) -> None:
    """Keep every delinquency that can still be the worst in the window: a newer, equal or larger
    one outlives the older ones it covers, so those go; a smaller one stays for when they expire."""
    while peaks and peaks[-1][1] <= days_past_due:
        peaks.pop()
    peaks.append([day, days_past_due])
    del peaks[:-_PEAKS_KEPT]


def _inserted(items: list[Sorted], item: Sorted) -> list[Sorted]:
    """A new sorted list with ``item`` inserted (after its equals): ``items`` may be shared with
    the state this one was copied from, so it is never changed in place."""
    inserted = list(items)
    insort(inserted, item)
    return inserted


# -- bounded memories ----------------------------------------------------------------------------


def _remember(memory: dict[str, V], key: str, bound: int, value: V) -> None:
    """Insert, then drop the oldest entries beyond ``bound``."""
    memory[key] = value
    while len(memory) > bound:
        del memory[next(iter(memory))]


def _remember_purchase(state: UserState, event_id: str, purchase: PurchaseRecord, policy: Policy) -> None:
    state.purchases = dict(state.purchases)  # shared with the state it was copied from
    _remember(state.purchases, event_id, policy_view(policy).purchases_kept, purchase_entry(purchase))
