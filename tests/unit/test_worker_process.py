"""The worker process's logging: repeats held back to a few a minute and counted, and debug
messages left off when the level is above them."""

from __future__ import annotations

import logging

import faust
import pytest

from streams.worker.process import CreditWorker, RepeatLimiter
from tests.unit.clock import ManualClock


def record(msg: str, name: str = "aiokafka.conn") -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, None, None)


def test_a_repeated_message_passes_three_times_a_minute_and_says_how_many_were_held() -> None:
    clock = ManualClock(1000.0)
    limiter = RepeatLimiter(per_minute=3, clock=clock)
    passed = [limiter.filter(record("Unable connect to %s")) for _ in range(500)]
    assert passed.count(True) == 3 and passed[:3] == [True, True, True]
    assert limiter.filter(record("another message"))  # other messages are not held back
    clock.now += 61
    again = record("Unable connect to %s")
    assert limiter.filter(again)
    assert str(again.msg).endswith("(and 497 more like it in the last minute)")


@pytest.mark.parametrize("level", ["warning", "error"])
def test_a_worker_logging_at_warning_or_above_leaves_debug_messages_off(level: str) -> None:
    """faust's spinner would set the root logger to DEBUG at these levels, so that every debug call
    in aiokafka (one per record sent) built a log record: the worker has no spinner."""
    root = logging.getLogger()
    saved_level, saved_handlers = root.level, list(root.handlers)
    worker = CreditWorker(faust.App("log-level-test"), loglevel=level, redirect_stdouts=False)
    try:
        worker._setup_logging()
        assert root.getEffectiveLevel() == logging.getLevelName(level.upper())
        assert not logging.getLogger("aiokafka.producer.producer").isEnabledFor(logging.DEBUG)
        assert worker.spinner is None
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
