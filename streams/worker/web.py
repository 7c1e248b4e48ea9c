"""The worker's web endpoints: the live page (GET /, /live.json), POST /v1/decisions,
GET /users/{user_id}?lang=zh|en, /health, /ready, /metrics."""

from __future__ import annotations

import asyncio
import hmac
from importlib import resources
from typing import Any, Final

from faust import web
from faust.types import TP
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from schemas.codec import DecodeError, decode_event, encode
from schemas.decisions import DecisionClient, DecisionTimeoutError, check_request, decision_timeout
from schemas.events import Event
from schemas.outputs import Decision
from schemas.producer import InvalidEventError, ProducerError, new_traceparent
from schemas.topics import EVENTS, INPUT_TOPICS
from streams.engine import UserState
from streams.explain.texts import LANGUAGES
from streams.processing import expected_partition
from streams.worker.live import SAMPLE_SECONDS
from streams.worker.parts import CreditApp
from streams.worker.send_now import send_partition_now
from streams.worker.user_view import user_view

__all__ = ["KAFKA_PROBE_SECONDS", "install_web", "is_ready", "kafka_problem"]

KAFKA_PROBE_SECONDS = 2.0
DEFAULT_DECISION_TIMEOUT_SECONDS = 5.0
MAX_DECISION_TIMEOUT_SECONDS = 30.0
_TOKEN_NEEDED = "this endpoint needs the header Authorization: Bearer <CREDITSTREAM_API_TOKEN>"
_client_lock = asyncio.Lock()
# The live page: one file, its script and styles inline, nothing fetched from elsewhere. The page
# itself holds no data, so it is served without the token; everything it shows comes from
# /live.json and /users/{id}, which ask for the token as the rest of the API does.
LIVE_PAGE: Final = resources.files("streams.worker").joinpath("page/live.html").read_bytes()
_PAGE_HEADERS: Final = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _owns(parts: CreditApp, user_id: str) -> bool:
    """Whether this worker applies the user's events (it holds the user's input partition)."""
    consumer = parts.app.consumer
    if consumer is None:
        return False
    partition = expected_partition(user_id.encode(), parts.settings.partitions)
    return TP(parts.settings.topic(EVENTS.name), partition) in consumer.assignment()


async def _decide_here(parts: CreditApp, event: Event, traceparent: str, timeout: float) -> Decision:
    """Send the request to credit.events and wait for this worker's agent to decide it: no second
    read of Kafka. The agent resolves the wait once the decision is in Kafka.

    The request leaves at once rather than after the producer's linger: a checkout waits for it,
    and the linger only gathers records the agent sends itself (bench decisions --under-load 1000,
    two alternated pairs: POST p50 33.9 and 21.6 ms against 45.6 and 35.7 with the linger)."""
    check_request(event)
    waiting: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
    parts.pending_decisions[event.event_id] = waiting
    try:
        key = event.user_id.encode()
        await parts.events_topic.send(
            key=key, value=encode(event), headers=[("traceparent", traceparent.encode())]
        )
        # Its own batch only: closing the agent's open batches too would make its next sends wait
        # for Kafka's answer to the request in flight (streams.worker.send_now).
        send_partition_now(
            parts.app.producer,
            parts.settings.topic(EVENTS.name),
            expected_partition(key, parts.settings.partitions),
        )
        return await asyncio.wait_for(waiting, timeout)
    except TimeoutError:
        raise decision_timeout(event.event_id, timeout) from None
    finally:
        if parts.pending_decisions.get(event.event_id) is waiting:
            del parts.pending_decisions[event.event_id]


async def _decision_client(parts: CreditApp) -> DecisionClient:
    """The worker's one decision client, made on first use (it connects to Kafka)."""
    async with _client_lock:
        if parts.decision_client is None:
            settings = parts.settings
            parts.decision_client = await asyncio.to_thread(
                DecisionClient,
                settings.bootstrap_servers,
                topic_prefix=settings.topic_prefix,
                client_id=f"{settings.app_id}-decisions",
                **settings.kafka_python_config(),
            )
        client: DecisionClient = parts.decision_client
        return client


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

    token = parts.settings.api_token

    @app.page("/")
    async def live_page(self: web.View, request: web.Request) -> web.Response:
        response = self.bytes(LIVE_PAGE, content_type="text/html")
        response.headers.update(_PAGE_HEADERS)
        return response

    @app.page("/live.json")
    async def live_document(self: web.View, request: web.Request) -> web.Response:
        if token and not _bearer_matches(request, token):
            return self.json({"error": _TOKEN_NEEDED}, status=401)
        language = request.query.get("lang", "en")
        if language not in LANGUAGES:
            return self.json(
                {"error": f"lang must be one of {', '.join(LANGUAGES)}, got {language!r}"}, status=400
            )
        return self.json(parts.live.document(language))

    @app.timer(SAMPLE_SECONDS)  # type: ignore[untyped-decorator]
    async def sample_live_view() -> None:
        parts.live.sample()

    @app.page("/metrics")
    async def metrics(self: web.View, request: web.Request) -> web.Response:
        return self.bytes(generate_latest(parts.registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])

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

    @app.page("/v1/decisions")
    class Decisions(web.View):
        """POST a credit purchase or an application; the answer is its decision (200), the reasons
        it is invalid (400), or 504 when no decision came in time. The request goes through
        credit.events like any event, so replay reproduces the decision, and a retry with the same
        event_id gets the original decision."""

        async def post(self, request: web.Request) -> web.Response:
            if token and not _bearer_matches(request, token):
                return self.json({"error": _TOKEN_NEEDED}, status=401)
            try:
                timeout = float(request.query.get("timeout", DEFAULT_DECISION_TIMEOUT_SECONDS))
            except ValueError:
                timeout = -1.0
            if not 0 < timeout <= MAX_DECISION_TIMEOUT_SECONDS:
                limit = f"{MAX_DECISION_TIMEOUT_SECONDS:g}"
                return self.json(
                    {"error": f"timeout must be seconds above 0 and at most {limit}"}, status=400
                )
            event = decode_event(await request.read())
            if isinstance(event, DecodeError):
                return self.json({"error": event.reason}, status=400)
            traceparent = request.headers.get("traceparent") or new_traceparent()
            try:
                if _owns(parts, event.user_id):
                    decision = await _decide_here(parts, event, traceparent, timeout)
                else:
                    client = await _decision_client(parts)
                    answer = client.submit(event, traceparent)
                    try:
                        decision = await asyncio.wait_for(asyncio.wrap_future(answer), timeout)
                    except TimeoutError:
                        raise decision_timeout(answer.event_id, timeout) from None
            except InvalidEventError as exc:  # including NotARequestError
                return self.json({"error": exc.errors}, status=400)
            except DecisionTimeoutError as exc:
                return self.json({"error": str(exc)}, status=504)
            except ProducerError as exc:
                return self.json({"error": str(exc)}, status=503)
            return self.bytes(encode(decision), content_type="application/json")

    @app.page("/users/{user_id}")
    @app.table_route(table=users, match_info="user_id")
    async def user(self: web.View, request: web.Request, user_id: str) -> web.Response:
        if token and not _bearer_matches(request, token):
            return self.json({"error": _TOKEN_NEEDED}, status=401)
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
