"""Bound how long one fetch can hold back every other partition: 100 ms, not faust's 1.5 s.

aiokafka keeps one fetch in flight per broker, and leaves out of it the partitions whose fetched
records the application has not taken yet. When the application falls more than aiokafka's
prefetch backoff (100 ms) behind, every busy partition is left out, and the fetch asks only for
partitions with nothing new: the worker's idle schema-1 input topics, or quiet partitions of
credit.events. The broker holds such a fetch for ``fetch_max_wait_ms``, and nothing else is fetched
from that broker meanwhile. faust-streaming hard-codes 1,500 ms, so a hiccup of a few hundred
milliseconds became a stall of 1.3 s for every new record (tests/integration/test_fetch_wait.py
reproduces it against the broker, and the bench saw decisions 1.5 to 1.8 s late).

At 100 ms such a stall ends within 100 ms. The cost is an empty fetch every 100 ms while the
worker's partitions are idle, which is nothing against the work a busy worker does.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["FETCH_MAX_WAIT_MS", "bound_fetch_wait"]

FETCH_MAX_WAIT_MS: Final = 100


def bound_fetch_wait(consumer: Any, max_wait_ms: int = FETCH_MAX_WAIT_MS) -> bool:
    """Make faust's consumer thread create its aiokafka consumer with ``max_wait_ms`` as the
    longest a fetch may wait; False (nothing changed) when this faust lacks the parts it uses."""
    thread = getattr(consumer, "_thread", None)
    create = getattr(thread, "_create_consumer", None)
    if thread is None or create is None:
        return False

    def create_consumer(*args: Any, **kwargs: Any) -> Any:
        client = create(*args, **kwargs)
        if not hasattr(client, "_fetch_max_wait_ms"):
            raise RuntimeError("aiokafka's consumer has no _fetch_max_wait_ms: cannot bound its fetch wait")
        client._fetch_max_wait_ms = min(client._fetch_max_wait_ms, max_wait_ms)  # read at its start()
        return client

    thread._create_consumer = create_consumer
    return True
