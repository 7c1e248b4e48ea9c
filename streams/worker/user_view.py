"""A user's state as people read it (the worker's GET /users/{user_id}): amounts in yuan, and per
product the offer, the limit, what is available, and why, in the reader's language."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.events import PRODUCTS
from schemas.money import fen_to_yuan
from streams.engine.decisions import available, decision_score
from streams.engine.state import UserState
from streams.explain.texts import Language, text_of
from streams.policy import Policy

__all__ = ["user_view"]


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
            "reasons": [{"code": code, "text": text_of("decision", code, language)} for code in reasons],
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
        "last_event_at": datetime.fromtimestamp(state.clock, UTC).isoformat(),
    }
