"""When the producer's open record batches leave: at once, or once the sender can take them.

aiokafka gathers a partition's records into one open batch, which the sender takes when the
producer's linger (5 ms) runs out, and it keeps one produce request in flight per broker (and one
batch in flight per partition). Closing a batch makes it ready at once; but a closed batch still
waiting for the sender takes no more records: the next record for its partition waits
(``MessageAccumulator.add_message``: "wait until batch per topic-partition is drained") until the
request in flight is answered and the sender has taken the batch.

So a close is right where nothing more is sent until the records are answered (the end of an
agent's batch, which then awaits its acknowledgements), and wrong in the middle of one. Measured
(issue 33, 2026-12-08, eighth stop): closing every batch at each 4 ms slice of the agent's batch
made its sends wait for Kafka's answers, 0.140 ms a record on a backlog and 0.107 in the steady
phase at 1,510 events/s (up to 0.94 ms a record in the first steady batches); closing only what the
sender can take at once, 0.026 and 0.035.

aiokafka internals: if they change, these do nothing and the linger applies as before, as it does
with a transport other than aiokafka's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Whether to close a topic partition's open batch, given the partition, aiokafka's sender and the
# cluster metadata (each None where this aiokafka lacks it).
_Closes = Callable[[Any, Any, Any], bool]

__all__ = ["send_lingering_now", "send_partition_now", "send_ready_now"]


def send_lingering_now(producer: Any) -> None:
    """Send every record the producer holds as soon as the sender can, not when its linger runs
    out: for the end of a batch, whose acknowledgements are awaited next.

    Closing the open record batches makes them ready, as aiokafka's own ``flush_for_commit``
    does, and waking the sender sends them."""
    _close(producer, lambda tp, sender, cluster: True)


def send_ready_now(producer: Any) -> None:
    """Send now the open record batches the sender can take now (their broker has no request in
    flight, their partition no batch in flight); leave the others open, so that records keep
    joining them until the request in flight is answered: for the middle of a batch."""

    def can_take(tp: Any, sender: Any, cluster: Any) -> bool:
        muted = getattr(sender, "_muted_partitions", None)
        in_flight = getattr(sender, "_in_flight", None)
        if muted is None or in_flight is None or cluster is None:
            return False  # nothing known: leave them to the linger
        return tp not in muted and cluster.leader_for_partition(tp) not in in_flight

    _close(producer, can_take)


def send_partition_now(producer: Any, topic: str, partition: int) -> None:
    """Send now the open record batch of one topic partition (a request a caller waits for),
    leaving every other batch open."""
    _close(producer, lambda tp, sender, cluster: tp.topic == topic and tp.partition == partition)


def _close(producer: Any, closes: _Closes) -> None:
    started = getattr(producer, "_producer", None)  # None before the producer starts
    accumulator = getattr(started, "_message_accumulator", None)
    batches = getattr(accumulator, "_batches", None)
    waiter = getattr(accumulator, "_waiter_future", None)
    if batches is None or waiter is None:
        return
    sender = getattr(started, "_sender", None)
    cluster = getattr(accumulator, "_cluster", None)
    for tp, queued in batches.items():
        if closes(tp, sender, cluster):
            for batch in queued:
                batch._builder.close()
    if not waiter.done():
        waiter.set_result(None)
