"""The contract floor: what replay costs before the engine does any work (`bench replay`'s peer).

Each line of the log is decoded and validated as replay decodes it (``schemas.codec.decode_event``)
and written back through the serializer that writes replay's outputs (``schemas.codec.encode``):
one record per event, the event itself; a line that does not decode becomes its dead letter, as in
replay. No state and no engine. Measured in the same run as replay, it makes replay's figure a
ratio that holds while the machine's speed moves, and it says how much of an event's time the
contracts alone take (for replay at 50,000 events/s, an event has 20 us in all).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from schemas.codec import DecodeError, decode_event, encode
from streams.log_steps import REPLAY_TOPIC
from streams.processing import Message, refuse

__all__ = ["ContractFloor", "Sink", "run_contract_floor"]


class Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


@dataclass(frozen=True)
class ContractFloor:
    events: int
    seconds: float
    bytes_written: int

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def run_contract_floor(lines: Iterable[bytes], sink: Sink) -> ContractFloor:
    """Decode every line and write it back encoded, one JSON line each, to ``sink``."""
    write = sink.write
    events = written = 0
    began = time.perf_counter()
    for number, line in enumerate(lines, start=1):
        value = line.rstrip(b"\r\n")
        event = decode_event(value)
        if isinstance(event, DecodeError):
            message = Message(REPLAY_TOPIC, None, number, None, value, None)
            refused = refuse(message, event.reason, event.kind, event.user_id, event.event_type)
            ((_, record),) = refused.outputs
        else:
            record = encode(event)
        written += write(record) + write(b"\n")
        events = number
    return ContractFloor(events, time.perf_counter() - began, written)
