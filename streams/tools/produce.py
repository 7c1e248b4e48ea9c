"""`creditstream produce`: send events to Kafka with the producer helper, at a steady rate if asked.

Also where `creditstream simulate` sends its lines (``emit_lines``: to a file, standard output or
Kafka). Kafka sends go through schemas.producer: topic from the type, key = user_id, acks=all,
idempotent.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from schemas.codec import DecodeError, decode_event
from schemas.events import INPUT_EVENT_TYPES
from schemas.producer import CreditEventProducer
from schemas.topics import INPUT_TOPICS
from streams.kafka.admin import ensure_topics
from streams.kafka.permissions import check_connection
from streams.kafka.settings import Settings
from streams.tools.progress import progress_bar

__all__ = ["Pacer", "ProduceSummary", "connect_producer", "emit_lines", "produce_file"]


def connect_producer() -> CreditEventProducer:
    """A producer configured like the worker (environment), after making sure the topic it writes
    exists with the catalogue's partition count.

    credit.events is created from the catalogue first (where it is missing and this principal may),
    so that sending never depends on a broker's auto-creation, which would give it one partition
    and break co-partitioning. Only that topic: a producer's ACLs cover nothing else.
    """
    settings = Settings.from_environment()
    check_connection(settings)
    ensure_topics(
        settings.bootstrap_servers,
        settings.partitions,
        replication_factor=settings.replication_factor,
        topics=[dataclasses.replace(spec, name=settings.topic(spec.name)) for spec in INPUT_TOPICS],
        client_config=settings.kafka_python_config(),
    )
    return CreditEventProducer(
        settings.bootstrap_servers, topic_prefix=settings.topic_prefix, **settings.kafka_python_config()
    )


class Pacer:
    """Holds a steady rate: the n-th event leaves no earlier than start + n / rate."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.start = time.monotonic()
        self.count = 0

    def wait(self) -> None:
        if self.interval:
            delay = self.start + self.count * self.interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        self.count += 1


def emit_lines(
    lines: Iterable[bytes],
    *,
    out: Path | None,
    kafka: bool,
    rate: float | None,
    label: str,
    total: int | None,
) -> int:
    """Write valid event lines to ``out`` / stdout, or send them to Kafka; returns how many."""
    pacer = Pacer(rate)
    sent = 0
    with progress_bar(label, total) as advance:
        if kafka:
            with connect_producer() as producer:
                for line in lines:
                    pacer.wait()
                    head = orjson.loads(line)
                    producer.send_bytes(head["type"], head["user_id"], line)
                    sent += 1
                    if sent % 1000 == 0:
                        advance(sent)
        else:
            sink = out.open("wb") if out is not None else sys.stdout.buffer
            try:
                for line in lines:
                    pacer.wait()
                    sink.write(line + b"\n")
                    sent += 1
                    if sent % 10000 == 0:
                        advance(sent)
            finally:
                if out is not None:
                    sink.close()
                else:
                    sink.flush()
        advance(sent)
    return sent


@dataclass
class ProduceSummary:
    sent: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)
    by_type: Counter[str] = field(default_factory=Counter)

    def text(self, shown: int = 20) -> str:
        lines = [
            f"produce: {self.sent} sent, {len(self.invalid)} invalid; "
            + (", ".join(f"{n} {t}" for t, n in sorted(self.by_type.items())) or "nothing sent")
        ]
        for number, reason in self.invalid[:shown]:
            lines.append(f"  line {number}: {reason}")
        if len(self.invalid) > shown:
            lines.append(f"  ... and {len(self.invalid) - shown} more invalid lines")
        return "\n".join(lines)


def produce_file(
    path: Path, producer: CreditEventProducer, *, rate: float | None = None, send_invalid: bool = False
) -> ProduceSummary:
    """Send a JSONL file's events; invalid lines are reported (and sent only with ``send_invalid``).

    An invalid line sent for dead-letter testing goes to the topic of its ``type`` when that can be
    read (credit.events for every input type), keyed by its user_id when readable.
    """
    summary = ProduceSummary()
    pacer = Pacer(rate)
    size = path.stat().st_size
    with path.open("rb") as source, progress_bar(f"produce {path.name}", size) as advance:
        for number, raw in enumerate(source, start=1):
            line = raw.rstrip(b"\r\n")
            event = decode_event(line)
            if isinstance(event, DecodeError):
                summary.invalid.append((number, event.reason))
                if not send_invalid:
                    continue
                event_type = event.event_type if event.event_type in INPUT_EVENT_TYPES else "purchase"
                pacer.wait()
                producer.send_bytes(event_type, event.user_id or "", line)
                summary.by_type["invalid"] += 1
                summary.sent += 1
                continue
            pacer.wait()
            producer.send_bytes(event.type, event.user_id, line)
            summary.by_type[event.type] += 1
            summary.sent += 1
            if number % 5000 == 0:
                advance(source.tell())
        advance(size)
    producer.flush()
    return summary
