"""The garbage collector, set for creditstream's long loops (worker, replay, backtest).

Python's cycle collector scans every tracked container it has not frozen; with many users' states
alive (a replay's table, the worker's state cache), its full passes took a quarter of replay's
time (py-spy --native) and were the worker's long latency stalls. Engine states hold no reference
cycles, so reference counting frees them; the collector only needs to catch the rare cycles of
the libraries. So: freeze what start-up loaded (never scanned again), collect the young
generation every 100,000 allocations instead of 700, and the whole heap far more rarely.
"""

from __future__ import annotations

import gc
from typing import Final

__all__ = ["THRESHOLDS", "tune_gc"]

THRESHOLDS: Final = (100_000, 50, 100)


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
