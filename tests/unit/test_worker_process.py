"""The worker process's log limiter: repeats held back to a few a minute, and counted."""

from __future__ import annotations

import logging

from streams.worker.process import RepeatLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, name: str = "aiokafka.conn") -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, None, None)


def test_a_repeated_message_passes_three_times_a_minute_and_says_how_many_were_held() -> None:
    clock = Clock()
    limiter = RepeatLimiter(per_minute=3, clock=clock)
    passed = [limiter.filter(record("Unable connect to %s")) for _ in range(500)]
    assert passed.count(True) == 3 and passed[:3] == [True, True, True]
    assert limiter.filter(record("another message"))  # other messages are not held back
    clock.now += 61
    again = record("Unable connect to %s")
    assert limiter.filter(again)
    assert str(again.msg).endswith("(and 497 more like it in the last minute)")
