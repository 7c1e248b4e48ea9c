"""A producer helper for upstream teams, on kafka-python.

It validates every event against the contract before it leaves the process, picks the topic from
the event's type, keys the message by user_id (so a user's events stay in order on one partition),
and sends with ``acks=all`` and idempotence on, so a retried send is not duplicated in the log.

    with CreditEventProducer("127.0.0.1:9092") as producer:
        producer.send({"type": "purchase", "event_id": "...", ...})
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata
from pydantic import BaseModel, ValidationError

from schemas.codec import encode, format_validation_error
from schemas.connection import diagnose_connection
from schemas.events import EVENT_ADAPTER, Event
from schemas.topics import topic_for_event_type

__all__ = ["CreditEventProducer", "InvalidEventError", "ProducerError", "new_traceparent"]


def new_traceparent() -> str:
    """A W3C trace context for a new trace, sampled: version 00, trace id, parent id, flags 01."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


class ProducerError(RuntimeError):
    """Kafka could not take the event (connection, authorisation, timeout)."""


class InvalidEventError(ValueError):
    """The event breaks the contract; nothing was sent. ``errors`` says what, field by field."""

    def __init__(self, errors: str, event: Mapping[str, Any] | BaseModel) -> None:
        super().__init__(errors)
        self.errors = errors
        self.event = event


def _send_failure(topic: str, exc: BaseException) -> str:
    text = f"{type(exc).__name__} {exc}"
    if "TopicAuthorizationFailed" in text:
        return f"this principal may not write {topic} (TopicAuthorizationFailed)"
    if "ClusterAuthorizationFailed" in text:
        # Kafka gives an idempotent producer its id only if it may write some topic (KIP-679).
        return f"this principal may not write {topic}: no idempotent producer id (ClusterAuthorizationFailed)"
    return f"sending to {topic} failed: {exc}"


def _future_topic(future: Any) -> str:
    """The topic a send future is for (kafka-python keeps it on the produce future)."""
    topic_partition = getattr(getattr(future, "_produce_future", None), "topic_partition", None)
    return str(getattr(topic_partition, "topic", "the topic"))


class CreditEventProducer:
    """Validate, route and send creditstream input events."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        topic_prefix: str = "",
        client_id: str = "creditstream-producer",
        **kafka_config: Any,
    ) -> None:
        config: dict[str, Any] = {
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 5,
            "retries": 2147483647,
            "max_in_flight_requests_per_connection": 5,
            **kafka_config,
        }
        self.topic_prefix = topic_prefix
        try:
            self._producer = KafkaProducer(bootstrap_servers=bootstrap_servers, client_id=client_id, **config)
        except KafkaError as exc:
            # kafka-python says "Unable to bootstrap" for a wrong password or CA alike: ask why.
            reason = diagnose_connection(bootstrap_servers, config) or str(exc)
            raise ProducerError(f"cannot connect to Kafka at {bootstrap_servers}: {reason}") from None

    @staticmethod
    def validate(event: Mapping[str, Any] | BaseModel) -> Event:
        """The validated event, or InvalidEventError naming each bad field."""
        if isinstance(event, BaseModel):
            event = event.model_dump(mode="json")
        try:
            return EVENT_ADAPTER.validate_python(event)
        except ValidationError as exc:
            event_type = event.get("type")
            raise InvalidEventError(
                format_validation_error(exc, event_type if isinstance(event_type, str) else None), event
            ) from None

    def send(
        self, event: Mapping[str, Any] | BaseModel, traceparent: str | None = None
    ) -> FutureRecordMetadata:
        """Validate and send one event; returns kafka-python's future (call .get() to wait).

        The message carries a W3C ``traceparent`` header: the caller's (to continue its trace), or
        a new trace's. The worker copies it onto every output for the event."""
        valid = self.validate(event)
        return self.send_bytes(valid.type, valid.user_id, encode(valid), traceparent)

    def send_bytes(
        self, event_type: str, user_id: str, value: bytes, traceparent: str | None = None
    ) -> FutureRecordMetadata:
        """Send already-encoded bytes unvalidated (for dead-letter tests: ``produce --send-invalid``)."""
        topic = self.topic_prefix + topic_for_event_type(event_type)
        headers = [("traceparent", (traceparent or new_traceparent()).encode())]
        try:
            return self._producer.send(topic, key=user_id.encode(), value=value, headers=headers)
        except KafkaError as exc:
            raise ProducerError(_send_failure(topic, exc)) from None

    def send_and_wait(
        self, event: Mapping[str, Any] | BaseModel, timeout: float = 10.0, traceparent: str | None = None
    ) -> Any:
        """Send one event and wait until Kafka has it; its record metadata, or ProducerError."""
        future = self.send(event, traceparent)
        try:
            return future.get(timeout=timeout)
        except KafkaError as exc:
            raise ProducerError(_send_failure(_future_topic(future), exc)) from None

    def partitions_for(self, topic: str) -> set[int] | None:
        """The partition numbers of ``topic`` (None when Kafka does not know it)."""
        try:
            partitions: set[int] | None = self._producer.partitions_for(topic)
        except KafkaError as exc:
            raise ProducerError(f"cannot read the partitions of {topic}: {exc}") from exc
        return partitions

    def flush(self, timeout: float | None = None) -> None:
        try:
            self._producer.flush(timeout)
        except KafkaError as exc:
            raise ProducerError(f"flush failed: {exc}") from exc

    def close(self, timeout: float | None = None) -> None:
        self._producer.close(timeout)

    def __enter__(self) -> CreditEventProducer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.flush()
        self.close()
