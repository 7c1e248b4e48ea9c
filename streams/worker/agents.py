"""The Faust agent: the thin shell around the engine. Decode, apply, write the table, send.

One agent reads all four input topics as one stream, so one user's events are applied in their
partition's order, and each user's state lives in the table partition of the same number.
"""

from __future__ import annotations

import time
from typing import Any

from schemas.codec import encode
from schemas.topics import APPLIED, DECISIONS, SHADOW_DECISIONS
from streams.engine import UserState
from streams.processing import Message, process
from streams.worker.parts import CreditApp

__all__ = ["install_agents"]

LAG_INTERVAL_SECONDS = 5.0


def install_agents(parts: CreditApp) -> None:
    app, users, metrics, outputs = parts.app, parts.users, parts.metrics, parts.outputs

    def load(user_id: str) -> UserState | None:
        stored = users.get(user_id.encode())
        return UserState.from_bytes(stored) if stored is not None else None

    @app.agent(parts.inputs, name="apply-events")
    async def apply_events(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            step = process(
                Message(
                    message.topic,
                    message.partition,
                    message.offset,
                    message.key,
                    message.value,
                    message.timestamp,
                ),
                load,
                parts.policy,
                parts.challenger,
            )
            if step.state is not None and step.user_id is not None:
                stored = step.state.to_bytes()
                users[step.user_id.encode()] = stored
                metrics.state_bytes.observe(len(stored))
            key = step.user_id.encode() if step.user_id is not None else message.key
            # The applied log first: the order of application, which replay needs to reproduce us.
            # A message refused for its key never reached the engine (replay has no keys to refuse it).
            if step.dead_letter_kind != "key_mismatch":
                await outputs[APPLIED.name].send(key=message.key, value=message.value)
            for topic_name, record in step.outputs:
                callback = (
                    _latency_callback(parts, message.timestamp) if topic_name == DECISIONS.name else None
                )
                await outputs[topic_name].send(key=key, value=record, callback=callback)
            for shadow in step.shadow_decisions:
                await outputs[SHADOW_DECISIONS.name].send(key=key, value=encode(shadow))
            _record(parts, message, step.event_type, step.dead_letter_kind)
            metrics.record_outputs(step.engine_outputs, step.shadow_decisions)

    @app.timer(LAG_INTERVAL_SECONDS)  # type: ignore[untyped-decorator]
    async def report_lag() -> None:
        consumer = app.consumer
        for tp in consumer.assignment():
            last = parts.last_offsets.get((tp.topic, tp.partition))
            if last is None:
                continue
            highwater = consumer.highwater(tp)
            if highwater is not None:
                metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, highwater - last - 1))


def _record(parts: CreditApp, message: Any, event_type: str | None, dead_letter_kind: str | None) -> None:
    metrics = parts.metrics
    metrics.events.labels(message.topic, event_type or "unreadable").inc()
    if dead_letter_kind is not None:
        metrics.dead_letters.labels(dead_letter_kind).inc()
    parts.last_offsets[(message.topic, message.partition)] = message.offset  # lag: see report_lag


def _latency_callback(parts: CreditApp, record_timestamp: float | None) -> Any:
    """Observe event-to-decision latency when the decision's send is acknowledged."""
    if not record_timestamp:
        return None

    def observe(_: Any) -> None:
        parts.metrics.latency.observe(max(0.0, time.time() - record_timestamp))

    return observe
