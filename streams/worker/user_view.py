"""A user's state as people read it (the worker's GET /users/{user_id}): amounts in yuan, and per
product the offer, the limit, what is available, and why, in the reader's language."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.events import PRODUCTS
from schemas.money import fen_to_yuan
from streams.engine.decisions import available, decision_score
from streams.engine.state import UserState, decision_record
from streams.explain.texts import Language, reason_rows, text_of
from streams.policy import Policy

__all__ = ["RECENT_USER_DECISIONS", "user_view"]

RECENT_USER_DECISIONS = 5


def user_view(state: UserState, policy: Policy, language: Language = "en") -> dict[str, Any]:
    """Scores, status, and per product: offer state with reasons (code and text), limit,
    outstanding, available, credit balance, delinquency.

    ``available`` is what an application for that amount would get now: within the regulatory
    and income headroom, and 0 when the product is not offered or is suspended.
    """
    products = {}
    for index, product in enumerate(PRODUCTS):
        limit, outstanding = state.limits[index], state.outstanding[index]
        offer_state, reasons = state.offers[index] if index < len(state.offers) else ("not_offered", [])
        products[product] = {
            "offer": offer_state,
            "reasons": reason_rows(reasons, language),
            "score": decision_score(state, product, policy),
            "limit": fen_to_yuan(limit),
            "outstanding": fen_to_yuan(outstanding),
            "available": fen_to_yuan(available(state, product, limit, policy)),
            "credit_balance": fen_to_yuan(state.credit_balance[index]),
            "days_past_due": state.days_past_due[index],
            "amount_overdue": fen_to_yuan(state.amount_overdue[index]),
        }
    return {
        "user_id": state.user_id,
        "score": state.score,
        "merchant_score": state.merchant_score if state.segment == "merchant" else None,
        "status": state.status,
        "segment": state.segment,
        "monthly_income": fen_to_yuan(state.monthly_income) if state.monthly_income is not None else None,
        "invited_products": list(state.invited),
        "language": language,
        "products": products,
        "score_factors": _factors(state.factor_points, policy, language),
        "recent_decisions": _recent_decisions(state, language),
        "last_event_at": datetime.fromtimestamp(state.clock, UTC).isoformat(),
    }


def _factors(points: list[int], policy: Policy, language: Language) -> list[dict[str, Any]]:
    """The consumer score's factors with the points each gave, most points first. Empty when the
    state was scored under a card with other factors (a policy changed since): its points would
    be misread."""
    factors = policy.score.factors
    if len(points) != len(factors):
        return []
    rows = [
        {"factor": factor.name, "points": given, "text": text_of("factor", factor.name, language)}
        for factor, given in zip(factors, points, strict=True)
    ]
    return sorted(rows, key=lambda row: -row["points"])


def _recent_decisions(state: UserState, language: Language) -> list[dict[str, Any]]:
    """The user's last decisions, newest first, as the state keeps them (for redelivered requests)."""
    kept = list(state.decisions.items())[-RECENT_USER_DECISIONS:]
    rows = []
    for event_id, stored in reversed(kept):
        (product, outcome, requested, approved, apr, term, reasons, score, limit, _, decided_at,
         _) = decision_record(stored)  # fmt: skip
        rows.append(
            {
                "request_event_id": event_id,
                "decided_at": decided_at,
                "product": product,
                "outcome": outcome,
                "requested": fen_to_yuan(requested),
                "approved": fen_to_yuan(approved),
                "apr": apr,
                "term_months": term,
                "score": score or None,
                "limit": fen_to_yuan(limit),
                "reasons": reason_rows(reasons, language),
            }
        )
    return rows
