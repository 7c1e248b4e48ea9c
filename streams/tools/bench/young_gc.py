"""How long the cycle collector's young pass takes once users' states have changed for a while.

The worker's long stalls at a steady rate include young passes of 57 to 111 ms (issue 33, its
timeline's gc rows). Python starts a young pass when tracked allocations minus deallocations pass
the threshold (streams.gc_tuning: 100,000), but an event's new state replaces an older one, so
that count hardly moves while the young generation fills: it holds every container made since
the last pass that is still alive, which is the latest state of every user changed since. A pass
scans them all (and what they hold), so it lasts as long as the users changed meanwhile, however
high or low the threshold. Since state version 6 the kept decisions and purchases are text, which
the collector never tracks: after 30 s at 2,400 events/s, 44,793 young objects instead of 90,488.

This measures it without Kafka or the worker: ``python -m streams.tools.bench.young_gc --rate 2400
--every 1 10 30 [--seconds 60] [--json FILE]`` replays `bench worker`'s steady traffic
(streams.tools.bench.traffic) through the engine, the states kept as the worker's cache keeps
them, with the automatic collector off; every ``--every`` seconds of traffic it counts the young
generation and times one young pass. Each ``--every`` is its own replay.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from streams.engine import UserState
from streams.log_steps import replay_steps
from streams.policy import Policy, default_policy
from streams.tools.bench.paced import no_collector_pauses
from streams.tools.bench.traffic import steady_lines

__all__ = ["young_passes"]


def young_passes(
    lines: Sequence[bytes], rate: int, every_seconds: int, policy: Policy
) -> list[dict[str, Any]]:
    """Replay ``lines`` at ``rate`` a second; after the first ``every_seconds`` (a warm-up, its
    states frozen out of the collector's view), after each further ``every_seconds`` of traffic:
    the young generation's objects, the users changed meanwhile, and one young pass's ms."""
    chunk = rate * every_seconds
    states: dict[str, UserState] = {}
    passes = []
    with no_collector_pauses():
        for _ in replay_steps(lines[:chunk], policy, states):
            pass
        gc.collect()
        gc.freeze()  # the warm-up's states: what was alive before the first measured interval
        for start in range(chunk, len(lines) - chunk + 1, chunk):
            changed: set[str] = set()
            for _, step in replay_steps(lines[start : start + chunk], policy, states):
                if step.user_id is not None and step.state is not None:
                    changed.add(step.user_id)
            young = len(gc.get_objects(generation=0))
            began = time.perf_counter()
            gc.collect(0)
            passes.append(
                {
                    "after_seconds": (start + chunk) // rate,
                    "young_objects": young,
                    "users_changed": len(changed),
                    "pass_ms": round(1000 * (time.perf_counter() - began), 2),
                }
            )
    return passes


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams.tools.bench.young_gc", description=__doc__)
    parser.add_argument("--rate", type=int, required=True, help="events a second, as bench worker's --rate")
    parser.add_argument(
        "--every", type=int, nargs="+", required=True, help="seconds of traffic between passes"
    )
    parser.add_argument("--seconds", type=int, default=60, help="seconds of traffic, as bench worker's")
    parser.add_argument("--json", type=Path, help="also write the passes here, by --every")
    args = parser.parse_args(argv)
    if args.rate < 1 or min(args.every) < 1 or args.seconds < 2 * max(args.every):
        parser.error(
            "--rate and --every must be at least 1, and --seconds at least twice the largest --every"
        )
    policy = default_policy()
    lines = steady_lines(args.rate * args.seconds, policy)
    found = {every: young_passes(lines, args.rate, every, policy) for every in args.every}
    print("every_s after_s young_objects users_changed pass_ms")
    for every, passes in found.items():
        for row in passes:
            print(
                f"{every:7} {row['after_seconds']:7} {row['young_objects']:13} "
                f"{row['users_changed']:13} {row['pass_ms']:7.1f}"
            )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({str(every): passes for every, passes in found.items()}, indent=1))
        print(f"figures: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
