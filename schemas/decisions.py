"""A synchronous decision for a checkout: send a request, wait for its decision.

A checkout holds the customer at the till until the credit purchase is authorised. The request
goes through the log like any event (so replay reproduces the decision), and the answer is read
from ``credit.decisions``. Decisions are co-partitioned with the input: a user's decision lands on
the partition of the user's key, so the client reads just that partition, from a position taken
before it sends. A retried request (same event_id) is a redelivery: the engine publishes the
original decision again, and the retry gets it.

    with DecisionClient("127.0.0.1:9092") as client:
        decision = client.request_decision({"type": "purchase", "funding": "credit", ...}, timeout=2.0)

One background thread owns the Kafka consumer (kafka-python consumers are not thread-safe);
callers on any thread register what they wait for and block on a future.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout
from types import TracebackType
from typing import Any, Final

import orjson
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.partitioner.default import murmur2
from pydantic import BaseModel

from schemas.codec import encode
from schemas.events import Application, Event, Purchase
from schemas.outputs import Decision
from schemas.producer import CreditEventProducer, InvalidEventError, ProducerError
from schemas.topics import DECISIONS

__all__ = [
    "DecisionClient",
    "DecisionTimeoutError",
    "NotARequestError",
    "PendingDecision",
    "check_request",
    "decision_timeout",
]

_POLL_MS: Final = 10  # how long the reader blocks per poll: bounds the added latency


class PendingDecision(Future[Decision]):
    """The decision a request waits for; it knows its request, for the messages about it."""

    def __init__(self, event_id: str) -> None:
        super().__init__()
        self.event_id = event_id


class DecisionTimeoutError(TimeoutError):
    """No decision arrived in time. The request was sent and will still be decided: retrying with
    the same event_id returns that decision."""


class NotARequestError(InvalidEventError):
    """The event gets no decision: only credit purchases and applications do."""


def check_request(event: Event) -> None:
    """NotARequestError unless the event gets a decision: a credit purchase or an application."""
    if isinstance(event, Application) or (isinstance(event, Purchase) and event.funding == "credit"):
        return
    funding = " with funding 'own'" if isinstance(event, Purchase) else ""
    raise NotARequestError(
        f"type: only credit purchases and applications get a decision, not {event.type!r}{funding}", event
    )


def decision_timeout(event_id: str, timeout: float) -> DecisionTimeoutError:
    """The error for a request whose decision did not come in time."""
    return DecisionTimeoutError(
        f"no decision for event {event_id!r} within {timeout}s; it may still be decided: retry with the "
        "same event_id to get that decision"
    )


class DecisionClient:
    """Send requests and wait for their decisions; safe to share between threads."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        topic_prefix: str = "",
        client_id: str = "creditstream-decisions",
        **kafka_config: Any,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic_prefix = topic_prefix
        self._decisions_topic = topic_prefix + DECISIONS.name
        self._producer = CreditEventProducer(
            bootstrap_servers, topic_prefix=topic_prefix, client_id=client_id, linger_ms=0, **kafka_config
        )
        try:
            self._consumer = KafkaConsumer(
                bootstrap_servers=bootstrap_servers,
                client_id=client_id,
                group_id=None,
                enable_auto_commit=False,
                fetch_max_wait_ms=_POLL_MS,
                **kafka_config,
            )
        except KafkaError as exc:
            self._producer.close()
            raise ProducerError(f"cannot connect to Kafka at {bootstrap_servers}: {exc}") from exc
        self._partitions: int | None = None
        self._waiting: dict[str, Future[Decision]] = {}
        self._lock = threading.Lock()
        self._assign_requests: queue.Queue[tuple[int, Future[None]]] = queue.Queue()
        self._listening: set[int] = set()  # partitions the reader reads (from before any send to them)
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read, name="creditstream-decisions", daemon=True)
        self._reader.start()

    # -- the caller's side -----------------------------------------------------------------------

    def request_decision(
        self, event: Mapping[str, Any] | BaseModel, timeout: float = 5.0, traceparent: str | None = None
    ) -> Decision:
        """Send a credit purchase or an application and return its decision.

        Raises InvalidEventError (nothing sent) for an invalid event, NotARequestError for an event
        that gets no decision, ProducerError when Kafka cannot take it, and DecisionTimeoutError
        when no decision arrives within ``timeout`` seconds."""
        answer = self.submit(event, traceparent)
        try:
            return answer.result(timeout=timeout)
        except FutureTimeout:
            answer.cancel()
            raise decision_timeout(answer.event_id, timeout) from None

    def submit(self, event: Mapping[str, Any] | BaseModel, traceparent: str | None = None) -> PendingDecision:
        """Send the request without blocking; the future resolves to its decision (or to a
        ProducerError). Cancel it to stop waiting. For callers that wait their own way (asyncio)."""
        valid = CreditEventProducer.validate(event)
        check_request(valid)
        partition = self._partition_of(valid.user_id)
        answer = PendingDecision(valid.event_id)
        with self._lock:
            self._waiting[valid.event_id] = answer
        answer.add_done_callback(lambda done: self._forget(valid.event_id, done))
        value = encode(valid)

        def send(_: object = None) -> None:
            try:
                sent = self._producer.send_bytes(valid.type, valid.user_id, value, traceparent)
            except ProducerError as exc:
                _settle(answer, exc)
                return
            sent.add_errback(
                lambda exc: _settle(answer, ProducerError(f"sending {valid.event_id!r} failed: {exc}"))
            )

        if partition in self._listening:
            send()  # the reader already reads this partition, from before any send
        else:
            ready: Future[None] = Future()
            ready.add_done_callback(send)  # sent once the reader's position is taken
            self._assign_requests.put((partition, ready))
        return answer

    def _forget(self, event_id: str, answer: Future[Decision]) -> None:
        with self._lock:
            if self._waiting.get(event_id) is answer:
                del self._waiting[event_id]

    def _partition_of(self, user_id: str) -> int:
        if self._partitions is None:
            partitions = self._producer.partitions_for(self._decisions_topic)
            if not partitions:
                raise ProducerError(f"topic {self._decisions_topic} does not exist (is the worker running?)")
            self._partitions = len(partitions)
        return int(murmur2(user_id.encode()) & 0x7FFFFFFF) % self._partitions

    # -- the reader thread -------------------------------------------------------------------------

    def _read(self) -> None:
        assigned: set[int] = set()
        while not self._closed.is_set():
            self._assign_waiting(assigned)
            if not assigned:
                time.sleep(_POLL_MS / 1000)
                continue
            try:
                batches = self._consumer.poll(timeout_ms=_POLL_MS)
            except KafkaError:
                time.sleep(0.1)  # the broker is away: callers time out and say so
                continue
            for records in batches.values():
                for record in records:
                    self._deliver(record.value)

    def _assign_waiting(self, assigned: set[int]) -> None:
        requests: list[tuple[int, Future[None]]] = []
        while True:
            try:
                requests.append(self._assign_requests.get_nowait())
            except queue.Empty:
                break
        new = {partition for partition, _ in requests} - assigned
        if new:
            assigned |= new
            partitions = [TopicPartition(self._decisions_topic, p) for p in sorted(assigned)]
            self._consumer.assign(partitions)
            fresh = [TopicPartition(self._decisions_topic, p) for p in sorted(new)]
            self._consumer.seek_to_end(*fresh)
            for partition in fresh:
                self._consumer.position(partition)  # resolve the end offset now, before the send
            self._listening.update(new)
        for _, ready in requests:
            ready.set_result(None)

    def _deliver(self, value: bytes | None) -> None:
        if not value:
            return
        try:
            request_id = orjson.loads(value).get("request_event_id")
        except (orjson.JSONDecodeError, AttributeError):
            return
        with self._lock:
            waiting = self._waiting.get(request_id) if isinstance(request_id, str) else None
        if waiting is not None:
            _settle(waiting, Decision.model_validate_json(value))

    # -- lifetime ------------------------------------------------------------------------------------

    def close(self) -> None:
        self._closed.set()
        self._reader.join(timeout=5)
        self._consumer.close()
        self._producer.close()

    def __enter__(self) -> DecisionClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _settle(answer: Future[Decision], outcome: Decision | Exception) -> None:
    """Resolve a waiting caller once; one that gave up (cancelled) is left alone."""
    try:
        if isinstance(outcome, Exception):
            answer.set_exception(outcome)
        else:
            answer.set_result(outcome)
    except InvalidStateError:
        pass  # already resolved, or cancelled by a caller that stopped waiting
