"""The Faust agents: the thin shell around the engine. Decode, apply, send, then write the table.

The delivery guarantee is at-least-once with effects that are idempotent in full:

1. A batch of records is processed (``streams.processing.process``) against the table's states.
2. Every output of the batch is sent, and Kafka acknowledges each one: the outputs are in Kafka.
3. Only then is each changed user's state written, once per batch, with the offset of the last
   record it applied.
4. Every commit interval, the producer is flushed again (the changelog is in Kafka before the
   offsets that need it) and the next offset applied per partition is committed
   (``commit_applied``); faust's own acked-offset commits froze after restarts, see below.

A crash before 2 completes redelivers the batch and recomputes the same outputs from the same
states (the engine is deterministic): a record may repeat, only as an identical copy. A crash after
3 redelivers records whose offsets the states have already applied: they change and send nothing.

Contiguity. faust-streaming can drop records in flight around the end of table recovery (its
fetcher delivers while it seeks to the committed offsets) and then ack and commit past them:
measured here, a SIGKILL and restart skipped single offsets on several partitions at once. So the
agent does not trust the position it is handed: per partition it keeps the next offset it must
apply, durably (a marker in the table, written with the batch). A record past it is preceded by
the missing records, read straight from Kafka (streams.kafka.gaps) and then acked to faust, so
its commits move on. Records at or below it are redeliveries, which the users' states recognise
by offset. (Seeking faust's consumer back does not work: its fetcher, mid-batch, moves its read
offset forward again and drops the re-read records as already seen.)

A second agent forwards the schema-1 input topics, record by record, into credit.events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any, Final

from faust.types import TP
from faust.types import Message as FaustMessage

from schemas.codec import encode
from schemas.events import INPUT_EVENT_TYPES
from schemas.outputs import Decision
from schemas.topics import DECISIONS, EVENTS, SHADOW_DECISIONS
from streams.engine import UserState
from streams.kafka.gaps import MissingRecordsError
from streams.processing import Message, Step, process
from streams.worker.metrics import observe_all
from streams.worker.pacing import BatchPacing
from streams.worker.parts import CreditApp, as_current_event
from streams.worker.send_now import send_lingering_now, send_ready_now
from streams.worker.take import take_batches
from streams.worker.tracing import trace_headers

__all__ = [
    "BATCH_MAX",
    "GAP_READ_SECONDS",
    "SLICE_SECONDS",
    "ChangelogWriteError",
    "GapReadStuckError",
    "apply_batch",
    "commit_applied",
    "forget_revoked",
    "install_agents",
]

BATCH_MAX: Final = 500
# The most a batch processes before its outputs so far are sent and the event loop runs.
SLICE_SECONDS: Final = 0.004
LAG_INTERVAL_SECONDS: Final = 5.0
GAP_READ_SECONDS: Final = 60.0  # twice as long as GapReader.read polls before it gives up
_EVENT_TYPES: Final = frozenset(INPUT_EVENT_TYPES)
log = logging.getLogger(__name__)


class GapReadStuckError(RuntimeError):
    """Reading skipped records from Kafka did not return: the batch fails, to be applied again."""


def _marker_key(partition: int) -> bytes:
    """The table key of a partition's next-offset marker (no user_id can start with NUL)."""
    return b"\x00next-offset/" + str(partition).encode()


def _message(record: Any, partitions: int, *, milliseconds: bool) -> Message:
    """streams.processing's view of a record (faust's, or kafka-python's for a filled gap)."""
    stamp = record.timestamp / 1000 if milliseconds and record.timestamp is not None else record.timestamp
    headers = tuple(trace_headers(record.headers))
    return Message(
        record.topic, record.partition, record.offset, record.key, record.value, stamp, partitions, headers
    )


async def _records_to_apply(
    parts: CreditApp, event: Any, filled: list[Any], starts: dict[int, int]
) -> list[Message]:
    """The records to apply for this faust event, in order: any it skipped, then itself.

    faust-streaming can drop records in flight and deliver a partition's next ones: a record past
    the next offset its partition needs is preceded by the missing ones, read straight from Kafka
    (``filled`` collects them, so that faust is told they were handled). A record at or below it
    is a redelivery: applied again, and recognised by the user's state. ``starts`` keeps, per
    partition, the offset it was to apply next when the batch began.
    """
    message = event.message
    partition, offset = message.partition, message.offset
    partitions = parts.settings.partitions
    expected = parts.next_offsets.get(partition)
    if expected is None:
        with as_current_event(event):
            stored = parts.users.get(_marker_key(partition))
        expected = int(stored) if stored is not None else offset
    starts.setdefault(partition, expected)
    missing: list[Message] = []
    if offset > expected:
        parts.metrics.offset_gaps.inc(offset - expected)
        log.warning(
            "%s[%d]: offset %d arrived when %d was next; reading %d skipped records from Kafka",
            message.topic,
            partition,
            offset,
            expected,
            offset - expected,
        )
        reader = parts.gap_reader
        try:
            records = await asyncio.wait_for(
                asyncio.to_thread(reader.read, message.topic, partition, expected, offset),
                GAP_READ_SECONDS,
            )
        except TimeoutError:
            # A read that polls gives up by itself after 30 s: this one is stuck inside the client
            # (a CI run saw one wait for good). Leave it to its thread; the batch fails and is
            # applied again (apply_batch), and the next read has a new consumer.
            reader.abandon()
            raise GapReadStuckError(
                f"{message.topic}[{partition}]: reading offsets {expected}..{offset - 1} from Kafka "
                f"did not return within {GAP_READ_SECONDS:.0f} s"
            ) from None
        except MissingRecordsError as exc:
            # Gone from Kafka itself (retention, a truncated log): nothing to read, so go on from
            # here, loudly, rather than stop the partition for good.
            log.error("%s; applying from offset %d on", exc, offset)
        else:
            filled.extend(records)
            missing = [_message(r, partitions, milliseconds=True) for r in records]
    parts.next_offsets[partition] = max(expected, offset + 1)
    return [*missing, _message(message, partitions, milliseconds=False)]


def _ack_filled(parts: CreditApp, records: list[Any]) -> None:
    """Tell faust the records read past it were handled, or it never commits beyond them."""
    for record in records:
        tp = TP(record.topic, record.partition)
        parts.app.consumer.ack(
            FaustMessage(
                record.topic,
                record.partition,
                record.offset,
                record.timestamp / 1000,
                record.timestamp_type,
                [],
                record.key,
                record.value,
                None,
                tp=tp,
            )
        )


async def apply_batch(parts: CreditApp, batch: Sequence[Any]) -> None:
    """Process a batch of faust events: outputs sent and in Kafka first, then states written.

    If a send fails, the batch is stored nowhere and the error goes up (faust restarts the agent).
    The positions the batch advanced are taken back first: the records were taken from faust and
    will not come again from it, so the next record of each partition finds them missing and
    reads them again from Kafka (``_records_to_apply``), and they are applied again.
    """
    starts: dict[int, int] = {}  # partition -> the offset it was to apply next when the batch began
    try:
        await _apply_batch(parts, batch, starts)
    except BaseException:
        parts.next_offsets.update(starts)
        raise


async def _apply_batch(parts: CreditApp, batch: Sequence[Any], starts: dict[int, int]) -> None:
    began = time.time()
    metrics, state_cache = parts.metrics, parts.state_cache
    metrics.counts.discard()  # what a failed batch counted: its records are applied again
    send = parts.send_output
    answered: list[Decision] = []  # decisions a POST /v1/decisions on this worker waits for
    changed: dict[str, tuple[UserState, Any]] = {}
    applied: dict[int, None] = {}  # the partitions of the batch's records, in order (their markers)
    filled: list[Any] = []
    deliveries: list[asyncio.Future[Any]] = []  # one per record sent, done once Kafka has it

    producer = parts.app.producer
    slice_ends = time.perf_counter() + SLICE_SECONDS
    for event in batch:
        if time.perf_counter() >= slice_ends:
            # A slice's outputs go as soon as the sender can take them, and the loop runs (the
            # fetcher, the producer's sender), so a long batch holds neither its first decisions
            # nor the next records back. Not a close of every batch: the next sends would wait
            # for Kafka's answer to the request in flight (streams.worker.send_now).
            send_ready_now(producer)
            await asyncio.sleep(0)
            slice_ends = time.perf_counter() + SLICE_SECONDS
        for message in await _records_to_apply(parts, event, filled, starts):

            def load(user_id: str, event: Any = event) -> UserState | None:
                held = changed.get(user_id)
                if held is not None:
                    return held[0]
                cached = state_cache.get(user_id)
                if cached is not None:
                    return cached
                stored = parts.stored_state(event.message.partition, user_id.encode(), event)
                return UserState.from_bytes(stored) if stored is not None else None

            traced = parts.tracing.event(message.topic, message.headers, message.partition, message.offset)
            with traced as headers:
                step = process(message, load, parts.policy, parts.challenger)
                if step.state is not None and step.user_id is not None:
                    changed[step.user_id] = (step.state, event)
                key = step.user_id.encode() if step.user_id is not None else message.key
                for topic_name, record in step.outputs:
                    delivery = await send(topic_name, key, record, headers)
                    deliveries.append(delivery)
                    if topic_name == DECISIONS.name and message.timestamp:
                        delivery.add_done_callback(_latency_callback(parts, message.timestamp))
                for shadow in step.shadow_decisions:
                    deliveries.append(await send(SHADOW_DECISIONS.name, key, encode(shadow), headers))
                if parts.pending_decisions:
                    answered += [
                        output
                        for output in step.engine_outputs
                        if isinstance(output, Decision) and output.request_event_id in parts.pending_decisions
                    ]
            _record(parts, message, step)
        applied[event.message.partition] = None

    # The outputs are in Kafka before any state says "applied". Each send's own acknowledgement is
    # awaited, not the producer's flush: a flush returns when a batch failed too (aiokafka, after
    # its request timeout), and the states would then be written over outputs that never arrived.
    # A failed send raises here instead: nothing of the batch is stored, and it is applied again.
    sent = time.time()
    send_lingering_now(producer)
    await asyncio.gather(*deliveries)
    acked = time.time()
    for decision in answered:
        waiting = parts.pending_decisions.get(decision.request_event_id)
        if waiting is not None and not waiting.done():
            waiting.set_result(decision)
    # Each changed user's state, then each partition's marker (the next offset to apply): to the
    # changelog in that order, then into the store at once. The changelog first: should the store
    # write fail, the batch is applied again on the states the store still holds, where a store
    # ahead of its changelog would find the batch applied and never send those states at all.
    rows = [
        (event.message.partition, user_id.encode(), state.to_bytes())
        for user_id, (state, event) in changed.items()
    ]
    sizes = [len(value) for _, _, value in rows]
    applied_through = {partition: parts.next_offsets[partition] for partition in applied}
    rows += [
        (partition, _marker_key(partition), str(offset).encode())
        for partition, offset in applied_through.items()
    ]
    last_written: dict[int, asyncio.Future[Any]] = {}  # changelog partition -> its last record
    for partition, key, value in rows:
        last_written[partition] = await parts.send_changelog(partition, key, value)
    parts.store_rows(rows)
    for user_id, (state, _) in changed.items():
        state_cache.put(user_id, state)
    observe_all(metrics.state_bytes, sizes)
    metrics.batch_records.observe(len(batch))
    parts.applied_through.update(applied_through)  # committable once the changelog is flushed
    for delivery in last_written.values():  # a partition's records are acknowledged in order
        delivery.add_done_callback(parts.persist_changelog_offset)
    _ack_filled(parts, filled)
    metrics.observe_batch(batch, (began, sent, acked, time.time()))
    metrics.counts.flush()


async def commit_applied(parts: CreditApp) -> None:
    """Commit, per input partition, the next offset to apply: what this worker has applied.

    faust-streaming commits from its own acked-offset bookkeeping, which was measured to freeze for
    good (an acked list with a hole at its head after the end of recovery) while every record was
    applied. The agent knows what it applied, so it commits that itself, after flushing the
    producer: the states and markers those offsets rely on are in the changelog first. faust is
    told of the commit, so that its own never moves the position back.
    """
    _refuse_past_changelog_failure(parts)
    positions = dict(parts.applied_through)
    if not positions:
        return
    topic = parts.settings.topic(EVENTS.name)
    consumer: Any = parts.app.consumer  # faust's concrete consumer: _commit and its committed map
    assigned = consumer.assignment()
    offsets = {TP(topic, p): offset for p, offset in positions.items() if TP(topic, p) in assigned}
    if not offsets:
        return
    await parts.app.producer.flush()
    _refuse_past_changelog_failure(parts)  # the flush returns when records failed too
    if await consumer._commit(offsets):
        for tp, offset in offsets.items():
            known = consumer._committed_offset.get(tp)
            if known is None or offset > known:
                consumer._committed_offset[tp] = offset


class ChangelogWriteError(RuntimeError):
    """A state written to the table did not reach its changelog topic."""


def _refuse_past_changelog_failure(parts: CreditApp) -> None:
    """A state Kafka refused must not be committed past (another worker would restore the state
    without it, and never see its records again): the worker stops instead, and its records are
    applied again from the last commit."""
    failure = parts.changelog_failure
    if failure is not None:
        raise ChangelogWriteError(
            f"Kafka refused a record of the users table's changelog ({failure!r}); "
            "committing no offset past it"
        ) from failure


def forget_revoked(parts: CreditApp, revoked: Any) -> None:
    """A rebalance took partitions away: forget what this worker knew of them.

    Positions and states: a partition may come back after another worker applied it, so its marker
    and its users' states are read from the table again then. Lag: its series is removed, or two
    workers would both report it.
    """
    parts.next_offsets.clear()
    parts.applied_through.clear()
    parts.state_cache.clear()
    parts.metrics.rebalances.inc()
    for tp in revoked:
        if parts.last_offsets.pop((tp.topic, tp.partition), None) is not None:
            with contextlib.suppress(KeyError):
                parts.metrics.consumer_lag.remove(tp.topic, str(tp.partition))


def install_agents(parts: CreditApp) -> None:
    app = parts.app

    @app.on_partitions_revoked.connect
    def forget_partitions(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        revoked = args[0] if args else kwargs.get("revoked", set())
        forget_revoked(parts, revoked)

    @app.agent(parts.inputs, name="apply-events")
    async def apply_events(stream: Any) -> None:
        pacing = BatchPacing(app)  # each batch's window and the next fetches' shape
        # take_batches acks a batch's records only after this body has returned for it.
        async for batch in take_batches(stream, BATCH_MAX, pacing.gather_for):
            await apply_batch(parts, batch)
            pacing.after(batch)

    @app.agent(parts.legacy_inputs, name="forward-schema-1-topics")
    async def forward_legacy(stream: Any) -> None:
        events_topic = parts.events_topic
        async for event in stream.events():
            message = event.message
            # Unchanged, under the same key: credit.events' partitioner puts it where its user lives
            # (a record with no key or a wrong key is dead-lettered there, with its reason).
            await events_topic.send(key=message.key, value=message.value, headers=message.headers)

    @app.timer(parts.settings.commit_interval_seconds)  # type: ignore[untyped-decorator]
    async def commit_positions() -> None:
        await commit_applied(parts)

    @app.timer(LAG_INTERVAL_SECONDS)  # type: ignore[untyped-decorator]
    async def report_lag() -> None:
        consumer = app.consumer
        for tp in consumer.assignment():
            last = parts.last_offsets.get((tp.topic, tp.partition))
            if last is None:
                continue
            highwater = consumer.highwater(tp)
            if highwater is not None:
                parts.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(
                    max(0, highwater - last - 1)
                )


def _record(parts: CreditApp, message: Any, step: Step) -> None:
    """Metrics for one record, counted into the batch's counts. Labels come from closed sets only:
    an unknown ``type`` is 'unknown'."""
    metrics = parts.metrics
    count = metrics.counts.add  # added at the batch's end
    event_type = step.event_type if step.event_type in _EVENT_TYPES else "unknown"
    count(metrics.events, message.topic, event_type)
    if step.dead_letter_kind is not None:
        count(metrics.dead_letters, step.dead_letter_kind)
    if step.redelivered:
        count(metrics.redelivered)
    parts.last_offsets[(message.topic, message.partition)] = message.offset  # lag: see report_lag
    metrics.record_outputs(step.engine_outputs, step.shadow_decisions)


def _latency_callback(parts: CreditApp, record_timestamp: float) -> Any:
    """Observe event-to-decision latency when the decision's send is acknowledged."""

    def observe(_: Any) -> None:
        parts.metrics.latency.observe(max(0.0, time.time() - record_timestamp))

    return observe
