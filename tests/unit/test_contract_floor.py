"""bench replay's peer: every line decoded as replay decodes it and written back through the same
serializer, nothing applied; a line that does not decode becomes the dead letter replay writes."""

from __future__ import annotations

import io

import orjson

from schemas.codec import DecodeError, decode_event, encode
from streams.policy import default_policy
from streams.tools.contract_floor import run_contract_floor
from streams.tools.replay import replay_lines
from streams.tools.simulate import Simulation


def test_each_event_is_written_back_as_its_contract_encodes_it_and_each_bad_line_as_its_dead_letter() -> None:
    events = list(Simulation(users=5, days=30, seed=3, policy=default_policy()).lines())[:40]
    bad = b'{"type": "purchase", "user_id": "u1"}'
    lines = [line + b"\n" for line in events[:20]] + [bad + b"\n"] + events[20:]
    sink = io.BytesIO()
    floor = run_contract_floor(lines, sink)
    written = sink.getvalue().splitlines()
    assert floor.events == len(lines) == len(written) == 41
    assert floor.bytes_written == len(sink.getvalue())
    assert floor.seconds > 0 and floor.events_per_second == floor.events / floor.seconds
    for line, record in zip(lines, written, strict=True):
        event = decode_event(line.rstrip(b"\n"))
        if isinstance(event, DecodeError):
            continue
        assert record == encode(event)  # the event itself, through the serializer replay uses
        assert decode_event(record) == event
    # The bad line's record is the dead letter replay writes for it, at the same line number.
    replayed = io.BytesIO()
    replay_lines([bad], replayed, default_policy())
    dead = orjson.loads(written[20])
    assert dead["type"] == "dead_letter" and dead["offset"] == 21
    assert {**dead, "offset": 1} == orjson.loads(replayed.getvalue())
