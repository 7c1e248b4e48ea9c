"""A user's state as people read it (the worker's GET /users/{user_id}): amounts in yuan."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.events import PRODUCTS
from schemas.money import fen_to_yuan
from streams.engine.decisions import available
from streams.engine.state import UserState
from streams.policy import Policy

__all__ = ["user_view"]


def user_view(state: UserState, policy: Policy) -> dict[str, Any]:
    """Score, status, and per product: limit, outstanding, available, delinquency.

    ``available`` is what an application for that amount would get now: within the regulatory
    and income headroom, and 0 on a frozen or closed account.
    """
    products = {}
    for index, product in enumerate(PRODUCTS):
        limit, outstanding = state.limits[index], state.outstanding[index]
        products[product] = {
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
        "status": state.status,
        "segment": state.segment,
        "monthly_income": fen_to_yuan(state.monthly_income) if state.monthly_income is not None else None,
        "invited_products": list(state.invited),
        "products": products,
        "last_event_at": datetime.fromtimestamp(state.clock, UTC).isoformat(),
    }
