"""The bench's second peer: Faust as the worker runs it, with no engine and no table.

The bare aiokafka loop (streams.tools.bench.passthrough) is Kafka's cost alone. This is Faust's: the
worker's own app settings (streams.worker.app.faust_app) and consumer tuning, its batches
(streams.worker.take with the worker's pacing), its sends straight to the producer and its wait for
their acknowledgements per batch. Per event it parses the message and sends ``records_per_event``
records, as the bare loop does. No engine, no table or changelog, no metrics. So the worker against
this floor is what the engine and the table cost, and the floor against the bare loop what Faust
costs before any of the worker's own work.

It runs as its own process (``python -m streams.tools.bench.faust_floor``), as the worker does, and
writes its figures to a JSON file once it has handled ``events`` events; ``run_faust_floor``
starts it, waits for that file, and stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import orjson

from schemas.topics import EVENTS
from streams.gc_tuning import tune_gc
from streams.kafka.settings import Settings
from streams.tools.bench.passthrough import PassthroughResult, RecordsPerEvent
from streams.worker.agents import BATCH_MAX
from streams.worker.app import faust_app, tune_consumer
from streams.worker.pacing import BatchPacing
from streams.worker.process import CreditWorker
from streams.worker.send_now import send_lingering_now
from streams.worker.take import take_batches

__all__ = ["run_faust_floor"]

STOP_SECONDS: Final = 30.0  # for the process to end once its figures are written


def run_faust_floor(
    env: dict[str, str],
    output_topic: str,
    events: int,
    records_per_event: float,
    result_path: Path,
    log_path: Path,
    timeout: float = 600,
) -> PassthroughResult:
    """Run the floor over the input topic of ``env``'s settings (CREDITSTREAM_TOPIC_PREFIX, its own
    CREDITSTREAM_APP_ID as consumer group) from the start, until ``events`` events are handled."""
    result_path.unlink(missing_ok=True)
    command = [
        sys.executable, "-m", "streams.tools.bench.faust_floor",
        "--events", str(events),
        "--records-per-event", repr(records_per_event),
        "--output-topic", output_topic,
        "--result", str(result_path),
    ]  # fmt: skip
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not result_path.exists():
            if process.poll() is not None:
                raise RuntimeError(f"the Faust floor exited with {process.returncode}: see {log_path}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the Faust floor did not handle {events} events in {timeout:.0f} s: see {log_path}"
                )
            time.sleep(0.1)
        figures = orjson.loads(result_path.read_bytes())
        with contextlib.suppress(subprocess.TimeoutExpired):  # the figures are in: killed below
            process.wait(STOP_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    return PassthroughResult(figures["events"], figures["seconds"], figures["records_sent"])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m streams.tools.bench.faust_floor", description=__doc__)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--records-per-event", type=float, required=True)
    parser.add_argument("--output-topic", required=True)
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args(argv)
    tune_gc()  # as the worker's command does (streams.entry)
    settings = Settings.from_environment()
    settings.state_dir.mkdir(parents=True, exist_ok=True)  # faust makes only its own directory in it
    app = faust_app(settings)
    tune_consumer(app)
    inputs = app.topic(
        settings.topic(EVENTS.name),
        partitions=settings.partitions,
        key_serializer="raw",
        value_serializer="raw",
    )
    floor = _Floor(args.events, args.records_per_event, args.output_topic, args.result)

    @app.agent(inputs, name="faust-floor")
    async def handle(stream: Any) -> None:
        pacing = BatchPacing(app)
        async for batch in take_batches(stream, BATCH_MAX, pacing.gather_for):
            await floor.handle(app.producer, batch)
            pacing.after(batch)

    CreditWorker(app, loglevel="warning", redirect_stdouts=False).execute_from_commandline()


class _Floor:
    """What the floor's agent does with each batch, and its count."""

    def __init__(self, events: int, records_per_event: float, output_topic: str, result: Path) -> None:
        self.events = events
        self.quota = RecordsPerEvent(records_per_event)
        self.output_topic = output_topic
        self.result = result
        self.seen = self.sent = 0
        self.began: float | None = None

    async def handle(self, producer: Any, batch: Sequence[Any]) -> None:
        if self.began is None:
            self.began = time.perf_counter()
        deliveries: list[asyncio.Future[Any]] = []
        for event in batch:
            message = event.message
            orjson.loads(message.value or b"null")  # the worker parses every message
            for _ in range(self.quota.next()):
                deliveries.append(
                    await producer.send(self.output_topic, message.key, message.value, None, None, None)
                )
            self.seen += 1
        send_lingering_now(producer)
        await asyncio.gather(*deliveries)  # the outputs are in Kafka before the batch is acked
        self.sent += len(deliveries)
        if self.seen >= self.events and not self.result.exists():
            seconds = time.perf_counter() - self.began
            figures = {"events": self.seen, "seconds": seconds, "records_sent": self.sent}
            partial = self.result.with_suffix(".partial")
            partial.write_bytes(orjson.dumps(figures))
            partial.rename(self.result)  # whole, or not there
            os.kill(os.getpid(), signal.SIGTERM)


if __name__ == "__main__":
    main()
