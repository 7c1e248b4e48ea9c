"""The agent with Faust's in-memory test_context: fast, no broker (the broker tests cover the rest).

Checks the shell's wiring: a message is applied to the table, its outputs go to their topics in
order keyed by user_id, and a bad message goes to the dead-letter topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError
from faust.exceptions import ConsumerNotStarted
from faust.types import TP

from schemas.topics import DEAD_LETTER, DECISIONS, SCORE_CHANGES
from streams.engine import UserState
from streams.kafka.settings import Settings
from streams.policy import default_policy
from streams.testing import record_outputs
from streams.worker import agents, pacing
from streams.worker.agents import ChangelogWriteError, GapReadStuckError, commit_applied, forget_revoked
from streams.worker.app import create_app
from streams.worker.pacing import (
    BACKLOG_RECORDS,
    BACKLOG_WITHIN_SECONDS,
    BATCH_WITHIN_SECONDS,
    IDLE_AFTER_SECONDS,
    batch_window_after,
)
from streams.worker.parts import CreditApp
from streams.worker.take import take_batches


@pytest.fixture()
def parts(tmp_path: Path) -> Iterator[CreditApp]:
    settings = Settings.from_environment(
        {
            "CREDITSTREAM_STORE": "memory",
            "CREDITSTREAM_STATE_DIR": str(tmp_path),
            "CREDITSTREAM_APP_ID": "unit",
            "CREDITSTREAM_PARTITIONS": "1",  # test_context delivers on partition 0
        }
    )
    built = create_app(settings, default_policy())
    built.app.finalize()
    built.app.flow_control.resume()
    record_outputs(built)
    yield built


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


APPLICATION = {
    "event_id": "a-1", "type": "application", "user_id": "u-1", "occurred_at": "2026-03-01T10:00:00+08:00",
    "product": "cash_loan", "amount": "800", "term_months": 6,
}  # fmt: skip


def test_an_event_is_applied_stored_and_its_outputs_sent(parts: CreditApp) -> None:
    agent = parts.app.agents["apply-events"]

    async def scenario() -> None:
        async with agent.test_context() as context:
            await context.put(key=b"u-1", value=orjson.dumps(APPLICATION))

    run(scenario())
    stored = parts.users.data.get(b"u-1")  # the in-memory store, read outside an event
    assert stored is not None and UserState.from_bytes(stored).user_id == "u-1"
    decisions = parts.outputs[DECISIONS.name].sent
    assert [(key, orjson.loads(value)["request_event_id"]) for key, value in decisions] == [(b"u-1", "a-1")]
    assert parts.outputs[SCORE_CHANGES.name].sent
    assert parts.outputs[DEAD_LETTER.name].sent == []


TRACEPARENT = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_every_output_carries_the_events_trace_context(parts: CreditApp) -> None:
    """Decision, score, limit and offer changes, and a dead letter: each with the event's traceparent."""
    agent = parts.app.agents["apply-events"]
    headers = {"traceparent": TRACEPARENT, "unrelated": b"x"}

    async def scenario() -> None:
        async with agent.test_context() as context:
            await context.put(key=b"u-1", value=orjson.dumps(APPLICATION), headers=headers)
            await context.put(key=b"u-1", value=b"{oops", headers=headers)

    run(scenario())
    sent = {name: topic.headers for name, topic in parts.outputs.items() if topic.headers}
    assert {DECISIONS.name, SCORE_CHANGES.name, DEAD_LETTER.name, "credit.offers"} <= set(sent)
    for name, per_record in sent.items():
        assert all(h == [("traceparent", TRACEPARENT)] for h in per_record), (name, per_record)


def test_a_bad_message_goes_to_the_dead_letter_topic_and_the_next_is_still_applied(parts: CreditApp) -> None:
    agent = parts.app.agents["apply-events"]

    async def scenario() -> None:
        async with agent.test_context() as context:
            await context.put(key=b"u-1", value=b"{oops")
            await context.put(key=b"u-1", value=orjson.dumps(APPLICATION))

    run(scenario())
    (dead,) = parts.outputs[DEAD_LETTER.name].sent
    assert orjson.loads(dead[1])["error"].startswith("not valid JSON")
    assert len(parts.outputs[DECISIONS.name].sent) == 1


def test_a_revoked_partition_loses_its_lag_series_its_position_and_cached_states(parts: CreditApp) -> None:
    """Two workers must not both report a partition's lag after a rebalance moved it, and a
    partition that comes back is read from the table, not from states cached before it left."""
    lag = parts.metrics.consumer_lag
    for partition in (0, 1):
        parts.last_offsets[("credit.events", partition)] = 10
        lag.labels("credit.events", str(partition)).set(5)
    parts.next_offsets[0] = 11
    parts.applied_through[0] = 11
    parts.state_cache.capacity = 10
    parts.state_cache.put("u-1", UserState("u-1", "consumer", "active", 0, 0))

    forget_revoked(parts, {TP("credit.events", 0)})

    assert (
        parts.registry.get_sample_value(
            "creditstream_consumer_lag", {"topic": "credit.events", "partition": "0"}
        )
        is None
    )
    assert (
        parts.registry.get_sample_value(
            "creditstream_consumer_lag", {"topic": "credit.events", "partition": "1"}
        )
        == 5
    )
    assert parts.next_offsets == {} and parts.applied_through == {}
    assert parts.state_cache.get("u-1") is None


def test_a_users_next_event_reads_the_state_the_agent_cached_when_it_wrote_it(parts: CreditApp) -> None:
    """The cache holds what the table holds: the second event of a user is applied on the state
    the first one stored, without reading the table."""
    agent = parts.app.agents["apply-events"]
    parts.state_cache.capacity = 10
    second = {**APPLICATION, "event_id": "a-2"}

    async def scenario() -> None:
        async with agent.test_context() as context:
            await context.put(key=b"u-1", value=orjson.dumps(APPLICATION))
            for _ in range(200):  # the agent applies it with its batch, a few milliseconds on
                if b"u-1" in parts.users.data:
                    break
                await asyncio.sleep(0.01)
            cached = parts.state_cache.get("u-1")
            assert cached is not None and cached.to_bytes() == parts.users.data[b"u-1"]
            parts.users.data[b"u-1"] = b"not a state"  # a table read now would dead-letter the event
            await context.put(key=b"u-1", value=orjson.dumps(second))

    run(scenario())
    assert parts.outputs[DEAD_LETTER.name].sent == []
    decided = [orjson.loads(value)["request_event_id"] for _, value in parts.outputs[DECISIONS.name].sent]
    assert decided == ["a-1", "a-2"]
    assert "a-1" in UserState.from_bytes(parts.users.data[b"u-1"]).seen


def test_a_batch_whose_output_kafka_refused_is_not_stored(parts: CreditApp) -> None:
    """A state is written only once every output of its batch is in Kafka: a send that fails
    (here at once; live, after the producer's request timeout) leaves the table and the
    partition's position as they were, so the event is applied again, instead of being marked
    applied with its decision lost. (A producer flush, which the agent awaited before, returns on
    a failed batch.)"""
    agent = parts.app.agents["apply-events"]
    sends: list[str] = []

    async def refused(name: str, key: bytes | None, value: bytes, headers: Any) -> asyncio.Future[Any]:
        sends.append(name)
        delivery: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        delivery.set_exception(KafkaTimeoutError("batch expired"))
        return delivery

    parts.send_output = refused  # type: ignore[method-assign]

    async def flush_returns() -> None:  # as aiokafka's flush does when a batch failed
        return None

    parts.app.producer.flush = flush_returns  # type: ignore[method-assign]

    async def scenario() -> None:
        async with agent.test_context() as context:
            await context.put(key=b"u-1", value=orjson.dumps(APPLICATION))
            for _ in range(100):  # the agent applies it with its batch, a few milliseconds on
                if agent._crash_reason is not None or b"u-1" in parts.users.data:
                    break
                await asyncio.sleep(0.01)

    with contextlib.suppress(KafkaTimeoutError):
        run(scenario())
    assert DECISIONS.name in sends  # the batch was applied and its decision sent...
    assert b"u-1" not in parts.users.data  # ...but nothing says it was applied,
    # and the partition's position is taken back to this record (offset 0): the next record
    # finds it missing and reads it again from Kafka (faust will not deliver it again).
    assert parts.next_offsets[0] == 0
    # Nor is it counted: its record is counted once, when it is applied again.
    assert parts.registry.get_sample_value(
        "creditstream_events_total", {"topic": parts.inputs.get_topic_name(), "type": "application"}
    ) in (None, 0.0)


def test_a_batch_whose_store_write_failed_is_in_the_changelog_and_applied_again(parts: CreditApp) -> None:
    """The batch's rows go to the changelog before the store: a store write that fails leaves a
    changelog that holds the batch and a store behind it (as after any crash), so the batch is
    applied again on the states the store still holds. Nothing is cached or committable from it,
    and the partition's position is taken back."""
    agent = parts.app.agents["apply-events"]
    changelog: list[bytes] = []
    record_send = parts.send_changelog

    async def send_changelog(partition: int, key: bytes, value: bytes) -> asyncio.Future[Any]:
        changelog.append(key)
        return await record_send(partition, key, value)

    def store_fails(rows: Any) -> None:
        raise OSError("IO error: No space left on device")

    parts.send_changelog = send_changelog  # type: ignore[method-assign]
    parts.store_rows = store_fails  # type: ignore[method-assign]
    parts.state_cache.capacity = 10

    async def scenario() -> None:
        async with agent.test_context() as context:
            await context.put(key=b"u-1", value=orjson.dumps(APPLICATION))
            for _ in range(100):  # the agent applies it with its batch, a few milliseconds on
                if agent._crash_reason is not None:
                    break
                await asyncio.sleep(0.01)

    with contextlib.suppress(OSError):
        run(scenario())
    assert changelog[0] == b"u-1" and len(changelog) == 2  # the state, then the partition's marker
    assert b"u-1" not in parts.users.data and parts.state_cache.get("u-1") is None
    assert parts.applied_through == {} and parts.next_offsets[0] == 0


class _StuckGapReader:
    """A gap reader whose read does not return until released (as one did in a CI run)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.reads: list[tuple[str, int, int, int]] = []
        self.abandoned = False

    def read(self, topic: str, partition: int, start: int, end: int) -> list[Any]:
        self.reads.append((topic, partition, start, end))
        self.release.wait(10)
        return []

    def abandon(self) -> None:
        self.abandoned = True


def test_a_gap_read_that_never_returns_fails_the_batch_and_drops_the_reader(
    parts: CreditApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch fails (its positions taken back, to be applied again) within GAP_READ_SECONDS,
    and the reader's stuck consumer is dropped, so that the next read makes a new one."""
    monkeypatch.setattr(agents, "GAP_READ_SECONDS", 0.2)
    reader = _StuckGapReader()
    parts.gap_reader = reader  # type: ignore[assignment]
    agent = parts.app.agents["apply-events"]
    began = time.monotonic()

    async def scenario() -> None:
        async with agent.test_context() as context:
            await context.put(key=b"u-1", value=orjson.dumps(APPLICATION))  # offset 0
            for _ in range(200):  # applied and stored with its batch
                if b"u-1" in parts.users.data:
                    break
                await asyncio.sleep(0.01)
            context.sent_offset = 5  # offsets 1..4 never reach the agent
            await context.put(key=b"u-1", value=orjson.dumps({**APPLICATION, "event_id": "a-2"}), wait=False)
            for _ in range(200):
                if context._crash_reason is not None:
                    break
                await asyncio.sleep(0.01)
            reader.release.set()  # the stuck thread, which asyncio.run waits for at its end
            assert isinstance(context._crash_reason, GapReadStuckError)
            assert "reading offsets 1..4 from Kafka did not return within 0 s" in str(context._crash_reason)

    with contextlib.suppress(GapReadStuckError):
        run(scenario())
    assert time.monotonic() - began < 5
    assert [(partition, start, end) for _, partition, start, end in reader.reads] == [(0, 1, 5)]
    assert reader.abandoned
    assert parts.next_offsets[0] == 1  # taken back: offset 5, and 1..4 before it, come again


def test_the_store_records_the_last_changelog_offset_of_each_batch(parts: CreditApp) -> None:
    """The agent writes the table's store and changelog itself (not through faust's per-key
    path), so it must also record, as faust does, how far the changelog holds this store's
    rows: recovery and standbys read on from there."""
    agent = parts.app.agents["apply-events"]
    persisted: list[tuple[Any, int]] = []
    parts.users.data.set_persisted_offset = lambda tp, offset: persisted.append((tp, offset))

    async def scenario() -> None:
        async with agent.test_context() as context:
            await context.put(key=b"u-1", value=orjson.dumps(APPLICATION))
            for _ in range(200):  # the agent applies it with its batch, a few milliseconds on
                if persisted:
                    break
                await asyncio.sleep(0.01)

    run(scenario())
    # One batch wrote two rows on partition 0 (the user's state, then the partition's marker):
    # record_outputs numbers them 0 and 1, and the store keeps the last.
    assert persisted == [(TP("changelog", 0), 1)]


def test_no_offset_is_committed_past_a_state_the_changelog_refused(parts: CreditApp) -> None:
    """A changelog record Kafka refused is noted when its delivery fails, and the next commit
    raises instead of committing: a restart applies the records again from the last commit."""

    async def refusing_send(*args: Any) -> asyncio.Future[Any]:
        delivery: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        delivery.set_exception(KafkaTimeoutError("batch expired"))
        return delivery

    parts.app.producer.send = refusing_send  # type: ignore[method-assign,assignment]

    async def scenario() -> None:
        # The real send (record_outputs stands in for it on the instance), then the store, as the
        # agent writes a row: the store keeps the row whatever Kafka said of its changelog record.
        delivery = await CreditApp.send_changelog(parts, 0, b"u-1", b"a state")
        parts.store_rows([(0, b"u-1", b"a state")])
        await asyncio.sleep(0)  # the delivery's callbacks run
        assert delivery.done() and parts.users.data[b"u-1"] == b"a state"
        parts.applied_through[0] = 7
        await commit_applied(parts)

    with pytest.raises(ChangelogWriteError, match="users table's changelog"):
        run(scenario())


async def _three_requests(agent: Any, batches: list[int], apart_seconds: float) -> None:
    """Request a-1 and wait for its batch; then a-2 and a-3, ``apart_seconds`` apart; then wait
    until ``batches`` (the agent's batch sizes, as the test records them) holds all three."""
    async with agent.test_context() as context:
        await context.put(key=b"u-1", value=orjson.dumps(APPLICATION))
        for _ in range(200):
            if batches:
                break
            await asyncio.sleep(0.01)
        for number in (2, 3):
            await context.put(key=b"u-1", value=orjson.dumps({**APPLICATION, "event_id": f"a-{number}"}))
            if apart_seconds:
                await asyncio.sleep(apart_seconds)
        for _ in range(200):
            if sum(batches) == 3:
                break
            await asyncio.sleep(0.01)


@pytest.mark.parametrize(("window", "sizes"), [(0.5, [1, 2]), (0.005, [1, 1, 1])])
def test_the_next_batch_gathers_for_the_window_chosen_after_the_last(
    parts: CreditApp, monkeypatch: pytest.MonkeyPatch, window: float, sizes: list[int]
) -> None:
    """Two records 0.1 s apart share a batch when the window chosen after the first batch is
    0.5 s, and do not when it is 5 ms."""
    batches: list[int] = []
    apply = agents.apply_batch

    async def counted(built: CreditApp, batch: Any) -> None:
        batches.append(len(batch))
        await apply(built, batch)

    monkeypatch.setattr(agents, "apply_batch", counted)
    monkeypatch.setattr(pacing, "batch_window_after", lambda consumer, batch: window)
    agent = parts.app.agents["apply-events"]

    run(_three_requests(agent, batches, apart_seconds=0.1))
    assert batches == sizes


@pytest.mark.parametrize(
    ("window", "gather"), [(BACKLOG_WITHIN_SECONDS, False), (BATCH_WITHIN_SECONDS, True)]
)
def test_after_each_batch_the_fetches_gather_only_while_the_worker_keeps_up(
    parts: CreditApp, monkeypatch: pytest.MonkeyPatch, window: float, gather: bool
) -> None:
    """The backlog's longer window lets the next fetches take what is there; the short one has the
    broker gather records for them (streams.worker.fetch_wait.shape_fetches)."""
    batches: list[int] = []
    calls: list[str | bool] = []  # "batch" when a batch is applied, then each shape set, in order
    apply = agents.apply_batch

    async def counted(built: CreditApp, batch: Any) -> None:
        batches.append(len(batch))
        await apply(built, batch)
        calls.append("batch")

    def shape(consumer: Any, *, gather: bool, gather_ms: int = 0) -> bool:
        calls.append(gather)
        return True

    monkeypatch.setattr(agents, "apply_batch", counted)
    monkeypatch.setattr(pacing, "batch_window_after", lambda consumer, batch: window)
    monkeypatch.setattr(pacing, "shape_fetches", shape)
    agent = parts.app.agents["apply-events"]

    run(_three_requests(agent, batches, apart_seconds=0.0))
    assert len(batches) >= 1
    after_each_batch = [calls[i + 1] for i, call in enumerate(calls[:-1]) if call == "batch"]
    assert after_each_batch == [gather] * len(batches)


def test_with_no_batch_for_a_while_fetches_stop_gathering(
    parts: CreditApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records stopped: fetches return at the first byte again, rather than every 10 ms."""
    shaped: list[bool] = []

    def shape(consumer: Any, *, gather: bool, gather_ms: int = 0) -> bool:
        shaped.append(gather)
        return True

    monkeypatch.setattr(pacing, "shape_fetches", shape)
    agent = parts.app.agents["apply-events"]

    async def one_request_then_quiet() -> None:
        async with agent.test_context() as context:
            await context.put(key=b"u-1", value=orjson.dumps(APPLICATION))
            for _ in range(200):
                if True in shaped:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(4 * IDLE_AFTER_SECONDS)

    run(one_request_then_quiet())
    assert True in shaped, "the batch set no shape"
    assert shaped[-1] is False
    assert False in shaped[shaped.index(True) :]


class _Consumer:
    def __init__(self, highwaters: dict[TP, int] | None) -> None:
        self.highwaters = highwaters

    def highwater(self, tp: TP) -> int | None:
        if self.highwaters is None:
            raise ConsumerNotStarted("not started")
        return self.highwaters.get(tp)


def _batch(*positions: tuple[int, int]) -> list[Any]:
    return [
        SimpleNamespace(message=SimpleNamespace(tp=TP("credit.events", partition), offset=offset))
        for partition, offset in positions
    ]


@pytest.mark.parametrize(
    ("highwaters", "expected"),
    [
        ({TP("credit.events", 0): 11, TP("credit.events", 1): 21}, BATCH_WITHIN_SECONDS),  # caught up
        ({TP("credit.events", 0): 110, TP("credit.events", 1): 21}, BATCH_WITHIN_SECONDS),  # 99 wait
        ({TP("credit.events", 0): 110, TP("credit.events", 1): 122}, BACKLOG_WITHIN_SECONDS),  # 200 wait
        ({}, BATCH_WITHIN_SECONDS),  # no highwater known yet
        (None, BATCH_WITHIN_SECONDS),  # no consumer running
    ],
)
def test_a_backlog_behind_a_batch_lengthens_the_next_window(
    highwaters: dict[TP, int] | None, expected: float
) -> None:
    """The records waiting past each partition's last record of the batch are added up: the
    longer window from BACKLOG_RECORDS on."""
    batch = _batch((0, 5), (1, 20), (0, 10))  # partition 0's last record is offset 10
    assert BACKLOG_RECORDS == 200
    assert batch_window_after(_Consumer(highwaters), batch) == expected


def test_records_that_arrive_during_a_batch_are_the_next_batch_at_once(
    parts: CreditApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the agent handles a batch, new records are taken in; the next batch is those, with
    no further wait when the worker is keeping up (no backlog)."""
    batches: list[int] = []
    asked: list[tuple[int, float]] = []  # (records waiting, window given) before each batch
    apply, take = agents.apply_batch, take_batches

    async def slow_first(built: CreditApp, batch: Any) -> None:
        batches.append(len(batch))
        if len(batches) == 1:
            await asyncio.sleep(0.3)  # busy: the next two records come in meanwhile
        await apply(built, batch)

    def recording(stream: Any, max_records: int, window_seconds: Any) -> Any:
        def window(waiting: int) -> float:
            given = float(window_seconds(waiting))
            asked.append((waiting, given))
            return given

        return take(stream, max_records, window)

    monkeypatch.setattr(agents, "apply_batch", slow_first)
    monkeypatch.setattr(agents, "take_batches", recording)
    agent = parts.app.agents["apply-events"]

    run(_three_requests(agent, batches, apart_seconds=0.0))
    assert batches == [1, 2]
    assert (2, 0.0) in asked
    decided = [orjson.loads(value)["request_event_id"] for _, value in parts.outputs[DECISIONS.name].sent]
    assert decided == ["a-1", "a-2", "a-3"]


def test_the_wait_of_records_that_arrive_during_a_busy_batch_is_measured(
    parts: CreditApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records taken in while the agent is busy for 0.3 s with a batch wait for it: the metrics
    put that time before their batch (stage "batch"), not in Kafka's intake."""
    batches: list[int] = []
    taken: list[list[float]] = []
    handed: list[float] = []  # when each batch reached the agent's body
    apply = agents.apply_batch

    async def slow_first(built: CreditApp, batch: Any) -> None:
        handed.append(time.time())
        batches.append(len(batch))
        taken.append(list(batch.taken_at))
        await apply(built, batch)
        if len(batches) == 1:
            await asyncio.sleep(0.3)  # still busy: the next two records come in meanwhile

    monkeypatch.setattr(agents, "apply_batch", slow_first)
    agent = parts.app.agents["apply-events"]

    run(_three_requests(agent, batches, apart_seconds=0.0))
    assert batches == [1, 2]
    assert len(taken[1]) == 2 and taken[1] == sorted(taken[1])

    def value(name: str, labels: dict[str, str]) -> float:
        return parts.registry.get_sample_value(name, labels) or 0.0

    waited = value("creditstream_record_wait_seconds_sum", {"stage": "batch"})
    assert value("creditstream_record_wait_seconds_count", {"stage": "batch"}) == 3
    # The two records waited from their taking in until the second batch, which came after the
    # busy 0.3 s; the first record hardly waited.
    expected = sum(handed[1] - moment for moment in taken[1]) + (handed[0] - taken[0][0])
    assert min(handed[1] - moment for moment in taken[1]) > 0.29
    assert waited == pytest.approx(expected, abs=0.02)
    assert value("creditstream_record_wait_seconds_count", {"stage": "intake"}) == 3
    assert value("creditstream_record_wait_seconds_sum", {"stage": "intake"}) < 0.1
    for phase in ("process", "acks", "writes"):
        assert value("creditstream_batch_seconds_count", {"phase": phase}) == 2


def _applications(count: int) -> list[tuple[bytes, bytes]]:
    """(key, value) of ``count`` applications, one user each."""
    return [
        (f"u-{n}".encode(), orjson.dumps({**APPLICATION, "event_id": f"q-{n}", "user_id": f"u-{n}"}))
        for n in range(count)
    ]


def test_records_waiting_in_the_streams_queue_are_taken_in_one_turn_of_the_loop(parts: CreditApp) -> None:
    """faust's own stream iterator hands over one record per turn of the event loop; the agent
    takes every record waiting at once. A task that looks between turns never sees part of them."""
    agent = parts.app.agents["apply-events"]
    seen: list[int] = []  # records taken so far, at each turn of the watcher
    taken = [0]

    def counting(value: Any) -> Any:  # a stream processor: runs on each record as it is taken
        taken[0] += 1
        return value

    async def scenario() -> None:
        async with agent.test_context() as context:
            context.stream().add_processor(counting)
            for key, value in _applications(30):
                await context.put(key=key, value=value, wait=False)
            for _ in range(400):
                seen.append(taken[0])
                if taken[0] == 30 and len(parts.outputs[DECISIONS.name].sent) == 30:
                    break
                await asyncio.sleep(0 if len(seen) < 200 else 0.01)

    run(scenario())
    assert set(seen) <= {0, 30}, f"records were handed over one turn at a time: {sorted(set(seen))}"
    assert len(parts.outputs[DECISIONS.name].sent) == 30


def test_a_record_of_an_earlier_consumer_generation_is_dropped_unapplied(parts: CreditApp) -> None:
    """A record fetched before a rebalance (an older generation) is dropped, as faust's iterator
    drops it: the partition's next record then finds it missing and reads it again."""
    agent = parts.app.agents["apply-events"]

    async def scenario() -> None:
        async with agent.test_context() as context:
            (stale_key, stale), (fresh_key, fresh) = _applications(2)
            event = await context.put(key=stale_key, value=stale, wait=False)
            event.message.generation_id = parts.app.consumer_generation_id - 1
            await context.put(key=fresh_key, value=fresh)
            for _ in range(200):
                if parts.outputs[DECISIONS.name].sent:
                    break
                await asyncio.sleep(0.01)

    run(scenario())
    decided = [orjson.loads(value)["request_event_id"] for _, value in parts.outputs[DECISIONS.name].sent]
    assert decided == ["q-1"]
