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

``shape_fetches`` then sets each next fetch by what the agent last saw. While records flow and the
worker keeps up, a fetch answered at once carried a few records, and the worker fetched hundreds of
times a second, each time across 40 partitions and two threads: at a steady 1,900 events/s its
process used 87 to 92% of a core. So then the broker gathers: a fetch returns with 64 KiB or after
5 ms, whichever comes first (a stall is then bounded by 5 ms too). 10 ms was used first (70 to 84%
of a core at 1,900 events/s); with 5 ms and the 2 ms batch window (streams.worker.pacing), at a
steady 1,000 events/s, p50 went from 15 to 9 ms and p99 from 27 to 17 ms, for about 5% more of
the machine's CPU (bench worker --rate 1000, back to back, issue 33). Otherwise a fetch returns
with the first byte, within 100 ms: on a backlog every fetch fills at once anyway, and the 10 ms
wait measured 10% fewer events per second there; and while no records come, 10 ms fetches took
an idle worker from 4% of a core to 10%.

A fetch costs the worker roughly a millisecond of processor whatever it brings (faust's consumer
thread, the hand-over to the agent's loop): at 5 ms the worker fetched some 200 times a second
however many records came, which at a steady 1,000 events/s was 0.68 to 0.72 of a core in all. So
the gathering grows with the records a worker takes (``gather_wait_ms``): 5 ms up to
``LIGHT_EVENTS_PER_SECOND``, where the latency target is tightest, 20 ms from
``HEAVY_EVENTS_PER_SECOND``, where the processor saved is what keeps the queue short (issue 33:
20 ms took a steady 2,000 events/s from 0.435 and 0.442 ms of processor an event to 0.376 and
0.394, alternated, and 1,000 events/s from 0.68 to 0.72 to 0.54, but its p99 from 22 to 42 ms).
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "FETCH_MAX_WAIT_MS",
    "GATHER_MAX_WAIT_MS",
    "GATHER_MIN_BYTES",
    "HEAVY_EVENTS_PER_SECOND",
    "HEAVY_GATHER_MAX_WAIT_MS",
    "LIGHT_EVENTS_PER_SECOND",
    "bound_fetch_wait",
    "gather_wait_ms",
    "shape_fetches",
]

FETCH_MAX_WAIT_MS: Final = 100  # when not gathering (and from the start), with 1 byte or more
GATHER_MAX_WAIT_MS: Final = 5  # see above: 10 ms cost a checkout 6 ms at p50
HEAVY_GATHER_MAX_WAIT_MS: Final = 20
LIGHT_EVENTS_PER_SECOND: Final = 1_200  # up to here a fetch gathers GATHER_MAX_WAIT_MS
HEAVY_EVENTS_PER_SECOND: Final = 1_800  # from here HEAVY_GATHER_MAX_WAIT_MS, in proportion between
GATHER_MIN_BYTES: Final = 64 * 1024


def gather_wait_ms(events_per_second: float) -> int:
    """How long a fetch may wait for records to gather, for a worker taking this many a second."""
    if events_per_second <= LIGHT_EVENTS_PER_SECOND:
        return GATHER_MAX_WAIT_MS
    if events_per_second >= HEAVY_EVENTS_PER_SECOND:
        return HEAVY_GATHER_MAX_WAIT_MS
    share = (events_per_second - LIGHT_EVENTS_PER_SECOND) / (
        HEAVY_EVENTS_PER_SECOND - LIGHT_EVENTS_PER_SECOND
    )
    return round(GATHER_MAX_WAIT_MS + share * (HEAVY_GATHER_MAX_WAIT_MS - GATHER_MAX_WAIT_MS))


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


def shape_fetches(consumer: Any, *, gather: bool, gather_ms: int = GATHER_MAX_WAIT_MS) -> bool:
    """Set how aiokafka's next fetches wait: for records to gather (``gather``, at most
    ``gather_ms``), or only for the first byte. False (nothing changed) before the consumer has
    started, or when this faust or aiokafka lacks the parts it uses.

    The fetcher reads both fields on faust's consumer thread each time it builds a fetch, and may
    do so between the two writes here: they are ordered so that a fetch built in between returns at
    the first byte within the gathering wait, never waits 100 ms for 64 KiB."""
    thread = getattr(consumer, "_thread", None)
    fetcher: Any = getattr(getattr(thread, "_consumer", None), "_fetcher", None)
    if not all(hasattr(fetcher, field) for field in ("_fetch_min_bytes", "_fetch_max_wait_ms")):
        return False
    if gather:
        fetcher._fetch_max_wait_ms = gather_ms
        fetcher._fetch_min_bytes = GATHER_MIN_BYTES
    else:
        fetcher._fetch_min_bytes = 1
        fetcher._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
    return True
