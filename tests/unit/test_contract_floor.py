"""bench replay's peer: every line decoded as replay decodes it and written back through the same
serializer, nothing applied; a line that does not decode becomes the dead letter replay writes."""

from __future__ import annotations

import io
from pathlib import Path

import orjson

from schemas.codec import DecodeError, decode_event, encode
from streams.policy import default_policy
from streams.tools.bench.contract_floor import run_contract_floor
from streams.tools.bench.worker import bench_replay
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


def test_bench_replay_reports_its_floor_from_the_same_log(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"".join(line + b"\n" for line in Simulation(20, 60, 5, default_policy()).lines()))
    result = bench_replay(log, default_policy())
    floor = result.details["contract_floor_events_per_second"]
    assert result.events == len(log.read_bytes().splitlines()) > 500
    assert floor > result.events_per_second  # the floor does part of replay's work on the same lines
    # Within the rounding of the two figures in the JSON (the floor to 0.1, the ratio to 0.001).
    assert abs(result.details["ratio_to_contract_floor"] - result.events_per_second / floor) <= 0.0006
