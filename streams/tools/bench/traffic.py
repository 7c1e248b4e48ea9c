"""The steady traffic of ``bench worker``, and what each of its seconds costs the engine (diagnosis).

``bench worker`` sends ``steady_lines(rate * seconds)`` at ``rate`` after its backlog. Its tail
comes in some seconds more than others; this says what those seconds hold without Kafka or the
worker: ``python -m streams.tools.bench.traffic --rate 2000 [--seconds 60] [--json FILE]``
prints, per second of sending, the events by type, the output records they make, the
milliseconds the engine took for them on one core (decode, apply and encode, as replay runs them,
the states carried from second to second), and the mean size of the states they changed, which
the worker writes to the changelog. The first second holds every user's first event, and the
states grow through the run as each user's memory of recent events fills.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from collections.abc import Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from streams.engine import UserState
from streams.log_steps import replay_steps
from streams.policy import Policy, default_policy
from streams.tools.simulate import Simulation

__all__ = ["second_costs", "steady_lines"]


def steady_lines(count: int, policy: Policy) -> list[bytes]:
    """The first ``count`` lines of the bench's steady simulation.

    Only the events the run sends are simulated: all 400 days took most of a minute and
    gigabytes of memory before a 60 s steady run. As many events per user as the backlog's, so
    that the steady traffic has its shape (the same span of the users' lives: a first event, a new
    user, as often) and half its throughput is a comparable rate. (At 60 a user, twice as many
    users each sent half their first year.)"""
    simulation = Simulation(max(20, count // 120), 400, 2, policy, id_prefix="lat-")
    return list(islice(simulation.lines(), count))


def second_costs(lines: Sequence[bytes], rate: int, policy: Policy) -> list[dict[str, Any]]:
    """Per ``rate`` lines (a second of sending at ``rate`` events/s), in order: the events by
    type, the output records, the engine's milliseconds for them, and the mean bytes of the
    states they changed."""
    states: dict[str, UserState] = {}
    seconds = []
    for start in range(0, len(lines), rate):
        chunk = lines[start : start + rate]
        types: collections.Counter[str] = collections.Counter()
        outputs = 0
        changed: set[str] = set()
        began = time.perf_counter()
        for _, step in replay_steps(chunk, policy, states):
            types[step.event_type or "unreadable"] += 1  # as decoded for the engine, not parsed again
            outputs += len(step.outputs)
            if step.user_id is not None and step.state is not None:
                changed.add(step.user_id)
        engine_ms = 1000 * (time.perf_counter() - began)
        sizes = [len(states[user].to_bytes()) for user in changed]
        seconds.append(
            {
                "second": start // rate,
                "events": len(chunk),
                "types": dict(sorted(types.items())),
                "outputs": outputs,
                "engine_ms": round(engine_ms, 1),
                "changed_users": len(changed),
                "state_bytes_mean": round(sum(sizes) / len(sizes)) if sizes else 0,
            }
        )
    return seconds


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams.tools.bench.traffic", description=__doc__)
    parser.add_argument("--rate", type=int, required=True, help="events a second, as bench worker's --rate")
    parser.add_argument("--seconds", type=int, default=60, help="seconds of sending, as bench worker's")
    parser.add_argument("--json", type=Path, help="also write the seconds here, as a JSON list")
    args = parser.parse_args(argv)
    if args.rate < 1 or args.seconds < 1:
        parser.error("--rate and --seconds must be at least 1")
    policy = default_policy()
    table = second_costs(steady_lines(args.rate * args.seconds, policy), args.rate, policy)
    names = sorted({name for row in table for name in row["types"]})
    print("second " + " ".join(f"{name[:11]:>11}" for name in names) + "  outputs engine_ms state_bytes")
    for row in table:
        counts = " ".join(f"{row['types'].get(name, 0):11}" for name in names)
        figures = f"{row['outputs']:8} {row['engine_ms']:9.0f} {row['state_bytes_mean']:11}"
        print(f"{row['second']:6} {counts} {figures}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(table, indent=1))
        print(f"figures: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
