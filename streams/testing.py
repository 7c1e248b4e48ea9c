"""A `creditstream worker` process on a broker, and reading topics back: for tests and benchmarks.

Each LocalWorker has its own topic prefix, consumer group, state directory and web port, so several
can share one broker without seeing each other's messages.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from faust.types import TP
from kafka import KafkaConsumer, TopicPartition

from streams.kafka.reading import TopicNotFoundError, iter_records

__all__ = [
    "LocalWorker",
    "RecordingTopic",
    "committed_behind",
    "free_port",
    "read_records",
    "read_topic",
    "record_outputs",
    "wait_until",
]


class RecordingTopic:
    """Stands in for an output topic in tests without a broker: keeps what the agent sends to it."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, bytes]] = []
        self.headers: list[Any] = []


def record_outputs(parts: Any) -> None:
    """Make a worker's parts (streams.worker.parts.CreditApp) record every output on a
    RecordingTopic in ``parts.outputs`` instead of sending it to Kafka, delivered at once, and
    count each changelog record as delivered at once (table rows still go to the store)."""
    topics = parts.outputs
    for name in list(topics):
        topics[name] = RecordingTopic()

    async def send(name: str, key: bytes | None, value: bytes, headers: Any) -> asyncio.Future[Any]:
        topics[name].sent.append((key, value))
        topics[name].headers.append(headers)
        delivered: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        delivered.set_result(None)
        return delivered

    parts.send_output = send
    written = 0

    async def send_changelog(partition: int, key: bytes, value: bytes) -> asyncio.Future[Any]:
        nonlocal written
        delivered: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        delivered.set_result(SimpleNamespace(topic_partition=TP("changelog", partition), offset=written))
        written += 1
        return delivered

    parts.send_changelog = send_changelog


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalWorker:
    """A worker process with its own topics (prefix), consumer group, state directory and port."""

    bootstrap: str
    prefix: str
    state_dir: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    partitions: int = 4
    process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "CREDITSTREAM_TOPIC_PREFIX": self.prefix,
            "CREDITSTREAM_APP_ID": self.prefix.strip(".") + "-worker",
            "CREDITSTREAM_STATE_DIR": str(self.state_dir),
            "CREDITSTREAM_WEB_PORT": str(self.port),
            "CREDITSTREAM_PARTITIONS": str(self.partitions),
            "CREDITSTREAM_LOG_LEVEL": "INFO",
            **self.extra_env,
        }

    def start(self, ready_timeout: float = 90) -> LocalWorker:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams", "worker"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.log_tail()}")
            status, _ = self.get("/ready")
            if status == 200:
                return self
            time.sleep(0.5)
        raise TimeoutError(f"worker not ready after {ready_timeout}s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no commit, no flush (a crash)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self, timeout: float = 60) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        return self.request(path, headers=headers)

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        return self.request(path, body, {"Content-Type": "application/json", **(headers or {})})

    def request(
        self, path: str, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 35
    ) -> tuple[int, Any]:
        """(status, parsed body) of a GET (or a POST with ``body``); (0, None) when nothing answers."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=body, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = response.read()
                return response.status, _parse(body, response.headers.get_content_type())
        except urllib.error.HTTPError as error:
            return error.code, _parse(error.read(), error.headers.get_content_type())
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return 0, None

    @property
    def group(self) -> str:
        """The worker's consumer group (CREDITSTREAM_APP_ID)."""
        return self.env["CREDITSTREAM_APP_ID"]

    def check_running(self) -> None:
        """Raise, with the end of its log, if the worker process has exited: a wait on its
        progress must not run out its whole timeout on a process that is gone."""
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.log_tail()}")

    def records_processed(self) -> int:
        """Input records this process has run through the engine since it started (its metrics)."""
        return self.metric_total("creditstream_events_total")

    def metric_total(self, name: str) -> int:
        """A metric of this process summed over all its labels (0 when /metrics does not answer)."""
        return int(self.metric_value(name))

    def metric_value(self, name: str) -> float:
        """``metric_total`` unrounded, for a metric of seconds."""
        status, body = self.get("/metrics")
        if status != 200 or not isinstance(body, str):
            return 0.0
        samples = (
            line.rsplit(" ", 1) for line in body.splitlines() if line.startswith((name + "{", name + " "))
        )
        return sum(float(value) for _, value in samples)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def run_cli(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "streams", *args],
            env=self.env,
            capture_output=True,
            timeout=300,
            check=False,
        )


def _parse(body: bytes, content_type: str) -> Any:
    return json.loads(body) if content_type == "application/json" else body.decode()


def read_records(bootstrap: str, topic: str, client_config: Mapping[str, Any] | None = None) -> list[Any]:
    """Every record (kafka-python ConsumerRecord) up to the topic's current end, partition by partition."""
    try:
        return list(iter_records(bootstrap, topic, client_config))
    except TopicNotFoundError:  # the topic does not exist yet
        return []


def offsets_spanned(bootstrap: str, topic: str) -> int:
    """Offsets a topic spans now, over all its partitions (end less start): the records written
    and not removed by retention. Compaction leaves gaps inside the span, so this counts the
    records it holds only until the log cleaner has run."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends, starts = consumer.end_offsets(partitions), consumer.beginning_offsets(partitions)
        return int(sum(ends[tp] - starts[tp] for tp in partitions))
    finally:
        consumer.close()


def read_topic(bootstrap: str, topic: str) -> list[bytes]:
    """Every value in a topic up to its current end, partition by partition."""
    return [record.value for record in read_records(bootstrap, topic)]


def committed_behind(bootstrap: str, group: str, topic: str) -> int:
    """How many records of ``topic`` the consumer group has not committed yet (all partitions)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(partitions)
        return sum(max(0, ends[tp] - (consumer.committed(tp) or 0)) for tp in partitions)
    finally:
        consumer.close()


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
