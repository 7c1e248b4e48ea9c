"""Run `creditstream worker` as a real process against the real broker, and read what it writes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition

REPO = Path(__file__).resolve().parents[2]
OUTPUT_TOPICS = ("credit.decisions", "credit.score-changes", "credit.limit-changes", "credit.dead-letter")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Worker:
    """A worker process with its own topics (prefix), consumer group, state directory and port."""

    bootstrap: str
    prefix: str
    state_dir: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
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
            "CREDITSTREAM_PARTITIONS": "4",
            "CREDITSTREAM_LOG_LEVEL": "INFO",
            **self.extra_env,
        }

    def start(self, ready_timeout: float = 90) -> Worker:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams", "worker"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
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

    def stop(self, timeout: float = 60) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def get(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as response:
                body = response.read()
                return response.status, _parse(body, response.headers.get_content_type())
        except urllib.error.HTTPError as error:
            return error.code, _parse(error.read(), error.headers.get_content_type())
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return 0, None

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


def read_topic(bootstrap: str, topic: str) -> list[bytes]:
    """Every value in a topic up to its current end, partition by partition."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    values: list[bytes] = []
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        for partition in sorted(partitions):
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            consumer.seek_to_beginning(tp)
            end = consumer.end_offsets([tp])[tp]
            while consumer.position(tp) < end:
                values.extend(r.value for r in consumer.poll(timeout_ms=300).get(tp, []) if r.offset < end)
    finally:
        consumer.close()
    return values


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def applied_count(bootstrap: str, prefix: str, user_ids: set[str]) -> int:
    return sum(1 for v in read_topic(bootstrap, prefix + "credit.applied") if _user_of_input(v) in user_ids)


def _user_of_input(value: bytes) -> str | None:
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return document.get("user_id") if isinstance(document, dict) else None


def outputs_by_user(lines: Iterable[bytes], users: set[str]) -> dict[tuple[str, str], list[bytes]]:
    """(user_id, output type) -> the outputs in order; dead letters are keyed by their error text only."""
    grouped: dict[tuple[str, str], list[bytes]] = defaultdict(list)
    for line in lines:
        document = orjson.loads(line)
        if document["type"] == "dead_letter":
            user = document["key"]
            if user in users:
                grouped[(user, "dead_letter")].append(document["error"].encode())
            continue
        if document["user_id"] in users:
            grouped[(document["user_id"], document["type"])].append(line)
    return dict(grouped)


def live_outputs(bootstrap: str, prefix: str) -> list[bytes]:
    return [value for topic in OUTPUT_TOPICS for value in read_topic(bootstrap, prefix + topic)]
