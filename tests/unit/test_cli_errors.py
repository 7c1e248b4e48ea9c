"""The CLI's error paths, in process: one clear line for bad setup, files closed, bugs not swallowed."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import streams.kafka.admin
import streams.kafka.permissions
import streams.tools.dump
import streams.worker.run
from streams.cli import app
from streams.kafka.admin import TopicSetupTimeoutError
from streams.kafka.reading import TopicNotFoundError

runner = CliRunner()


@pytest.fixture(autouse=True)
def a_broker_that_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests fake Kafka's answers (dump, topic set-up) with no broker: the connection check
    that runs first is told the broker accepted the settings."""
    monkeypatch.setattr(streams.kafka.permissions, "diagnose_connection", lambda *_, **__: None)


def test_dump_writes_every_message_and_closes_its_output_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_dump(*_: Any, **__: Any) -> Iterator[bytes]:
        yield from (b'{"n":1}', b'{"n":2}')

    monkeypatch.setattr(streams.tools.dump, "dump_topic", fake_dump)
    out = tmp_path / "out.jsonl"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = runner.invoke(app, ["dump", "credit.events", "--out", str(out)])
        gc.collect()
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == b'{"n":1}\n{"n":2}\n'
    unclosed = [w for w in caught if issubclass(w.category, ResourceWarning) and str(out) in str(w.message)]
    assert not unclosed, [str(w.message) for w in unclosed]


def test_dump_of_a_missing_topic_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(*_: Any, **__: Any) -> Iterator[bytes]:
        raise TopicNotFoundError("topic 'credit.nothing' does not exist or has no partitions")
        yield b""  # pragma: no cover - makes this a generator

    monkeypatch.setattr(streams.tools.dump, "dump_topic", missing)
    result = runner.invoke(app, ["dump", "credit.nothing"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "creditstream: topic 'credit.nothing' does not exist or has no partitions"
    ]


def test_a_bug_in_dump_is_not_swallowed_as_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ValueError from a bug must surface as an error, never as 'your input was wrong' (exit 2)."""

    def buggy(*_: Any, **__: Any) -> Iterator[bytes]:
        raise ValueError("a bug")
        yield b""  # pragma: no cover

    monkeypatch.setattr(streams.tools.dump, "dump_topic", buggy)
    result = runner.invoke(app, ["dump", "credit.events"])
    assert isinstance(result.exception, ValueError) and result.exit_code != 2


def test_worker_topic_setup_timeout_is_one_line_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow_cluster(*_: Any, **__: Any) -> list[str]:
        raise TopicSetupTimeoutError("topic metadata did not settle within 30s: no partitions yet")

    monkeypatch.setattr(streams.kafka.admin, "ensure_topics", slow_cluster)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    result = runner.invoke(app, ["worker"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines == [
        "creditstream: Kafka at 127.0.0.1:1: topic metadata did not settle within 30s: no partitions yet"
    ]
