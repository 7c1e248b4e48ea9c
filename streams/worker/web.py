"""The worker's web endpoints: GET /users/{user_id}, /health, /ready (and /metrics from the sensor)."""

from __future__ import annotations

import hmac
from typing import Any

from faust import web

from schemas.topics import INPUT_TOPICS
from streams.engine import UserState
from streams.worker.parts import CreditApp
from streams.worker.user_view import user_view

__all__ = ["install_web", "is_ready"]


def is_ready(parts: CreditApp) -> tuple[bool, dict[str, Any]]:
    """Ready: input partitions assigned, table recovery completed, no rebalance under way."""
    app = parts.app
    inputs = {parts.settings.topic(spec.name) for spec in INPUT_TOPICS}
    assigned = sorted(
        f"{tp.topic}:{tp.partition}" for tp in app.consumer.assignment() if tp.topic in inputs
    ) if app.consumer is not None else []  # fmt: skip
    recovered = app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]  # on the concrete manager
    rebalancing = bool(app.rebalancing)
    ready = bool(assigned) and recovered and not rebalancing
    return ready, {
        "ready": ready,
        "assigned_partitions": len(assigned),
        "recovery_completed": recovered,
        "rebalancing": rebalancing,
    }


def _bearer_matches(request: web.Request, token: str) -> bool:
    """Constant-time check of the Authorization header against the configured token."""
    supplied = request.headers.get("Authorization", "")
    return hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode())


def install_web(parts: CreditApp) -> None:
    app, users = parts.app, parts.users

    @app.page("/health")
    async def health(self: web.View, request: web.Request) -> web.Response:
        return self.json({"status": "up"})

    @app.page("/ready")
    async def ready(self: web.View, request: web.Request) -> web.Response:
        ok, detail = is_ready(parts)
        return self.json(detail, status=200 if ok else 503)

    token = parts.settings.api_token

    @app.page("/users/{user_id}")
    @app.table_route(table=users, match_info="user_id")
    async def user(self: web.View, request: web.Request, user_id: str) -> web.Response:
        if token and not _bearer_matches(request, token):
            return self.json(
                {"error": "this endpoint needs the header Authorization: Bearer <CREDITSTREAM_API_TOKEN>"},
                status=401,
            )
        if user_id.startswith("\x00"):
            return self.json({"error": f"unknown user {user_id!r}"}, status=404)
        stored = users.get(user_id.encode())
        if stored is None:
            return self.json({"error": f"unknown user {user_id!r}"}, status=404)
        return self.json(user_view(UserState.from_bytes(stored)))
