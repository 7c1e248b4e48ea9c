"""The worker's web endpoints: GET /users/{user_id}?lang=zh|en, /health, /ready (and /metrics)."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from faust import web

from schemas.topics import INPUT_TOPICS
from streams.engine import UserState
from streams.explain.texts import LANGUAGES
from streams.worker.parts import CreditApp
from streams.worker.user_view import user_view

__all__ = ["KAFKA_PROBE_SECONDS", "install_web", "is_ready", "kafka_problem"]

KAFKA_PROBE_SECONDS = 2.0


def is_ready(parts: CreditApp) -> tuple[bool, dict[str, Any]]:
    """Ready: input partitions assigned, table recovery completed, no rebalance under way."""
    app = parts.app
    inputs = {parts.settings.topic(spec.name) for spec in INPUT_TOPICS}
    assigned = sorted(
        f"{tp.topic}:{tp.partition}" for tp in app.consumer.assignment() if tp.topic in inputs
    ) if app.consumer is not None else []  # fmt: skip
    recovered = app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]  # on the concrete manager
    rebalancing = bool(app.rebalancing)
    reachable = parts.kafka_problem is None
    ready = bool(assigned) and recovered and not rebalancing and reachable
    return ready, {
        "ready": ready,
        "assigned_partitions": len(assigned),
        "recovery_completed": recovered,
        "rebalancing": rebalancing,
        "kafka": "reachable" if reachable else f"unreachable: {parts.kafka_problem}",
    }


def _bearer_matches(request: web.Request, token: str) -> bool:
    """Constant-time check of the Authorization header against the configured token."""
    supplied = request.headers.get("Authorization", "")
    return hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode())


async def kafka_problem(bootstrap_servers: str, timeout_s: float = 2.0) -> str | None:
    """None when a bootstrap server accepts a connection, else why none did (and since when)."""
    problems = []
    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout_s)
        except (OSError, TimeoutError) as exc:
            reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__
            problems.append(f"{server.strip()}: {reason}")
            continue
        writer.close()
        return None
    return "; ".join(problems)


def install_web(parts: CreditApp) -> None:
    app, users = parts.app, parts.users

    @app.page("/health")
    async def health(self: web.View, request: web.Request) -> web.Response:
        # The process is up (200) whatever Kafka does; the body says what it waits for.
        if parts.kafka_problem is None:
            return self.json({"status": "up"})
        return self.json({"status": "up", "kafka": f"unreachable: {parts.kafka_problem}"})

    @app.timer(KAFKA_PROBE_SECONDS)  # type: ignore[untyped-decorator]
    async def probe_kafka() -> None:
        parts.kafka_problem = await kafka_problem(parts.settings.bootstrap_servers)

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
        language = request.query.get("lang", "en")
        if language not in LANGUAGES:
            return self.json(
                {"error": f"lang must be one of {', '.join(LANGUAGES)}, got {language!r}"}, status=400
            )
        stored = users.get(user_id.encode())
        if stored is None:
            return self.json({"error": f"unknown user {user_id!r}"}, status=404)
        return self.json(user_view(UserState.from_bytes(stored), parts.policy, language))
