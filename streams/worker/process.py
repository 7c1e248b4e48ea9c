"""The worker process around the Faust app: a log that stays small, and a shutdown that ends.

- When Kafka is gone, its clients log every reconnect attempt (measured: about 8.5 KB/s). A
  filter on the root handlers lets each distinct message through a few times a minute and counts
  what it held back.
- faust's terminal spinner is off: at WARNING and above it turned on every logger's debug
  messages (see CreditWorker).
- SIGTERM must end the process within a usual grace period (10 s), even when Kafka is gone and
  faust waits on it. Past SHUTDOWN_DEADLINE_SECONDS the process exits on its own. That is safe by
  design: any moment is a safe moment to stop (see streams.worker.agents), and the next start
  redelivers what was not committed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any, Final

from faust.worker import Worker

__all__ = ["SHUTDOWN_DEADLINE_SECONDS", "CreditWorker", "RepeatLimiter"]

SHUTDOWN_DEADLINE_SECONDS: Final = 8.0
log = logging.getLogger(__name__)


class RepeatLimiter(logging.Filter):
    """Passes each (logger, message template) at most ``per_minute`` times a minute."""

    def __init__(self, per_minute: int = 3, clock: Any = time.monotonic) -> None:
        super().__init__()
        self.per_minute = per_minute
        self.clock = clock
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = self.clock()
        started, count = self._seen.get(key, (now, 0))
        if now - started >= 60:
            if count > self.per_minute:
                record.msg = f"{record.msg} (and {count - self.per_minute} more like it in the last minute)"
            started, count = now, 0
        self._seen[key] = (started, count + 1)
        if len(self._seen) > 10_000:  # bounded: forget the oldest templates
            self._seen.pop(next(iter(self._seen)))
        return bool(count < self.per_minute)


class CreditWorker(Worker):
    """faust's Worker with a log that stays small, no terminal spinner, and a shutdown deadline.

    ``first_lines`` are what the worker says at start (its policy, engine, created topics): logged
    once faust has set up logging, since anything logged at INFO before that went nowhere."""

    def __init__(self, *args: Any, first_lines: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.first_lines = list(first_lines)  # logged at INFO once faust has set up logging
        # faust's progress spinner, on at WARNING and above, sets the root logger to DEBUG so that
        # every message spins it: every debug call in aiokafka and faust (one per record sent) then
        # built a log record that the handlers dropped, 13% of the main thread measured in the
        # bench's Faust floor. A service's log is a file or a pipe, where the spinner only wrote
        # terminal escape codes.
        self.spinner = None

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        limiter = RepeatLimiter()
        for handler in logger.handlers:
            handler.addFilter(limiter)
        for line in self.first_lines:
            log.info("%s", line)
        self.first_lines.clear()

    def _on_sigterm(self) -> None:
        _exit_after_deadline()
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        _exit_after_deadline()
        super()._on_sigint()


def _exit_after_deadline() -> None:
    def force() -> None:
        log.warning(
            "shutdown did not finish within %.0f s (is Kafka reachable?); exiting now. Nothing is "
            "lost: what was not committed is redelivered at the next start",
            SHUTDOWN_DEADLINE_SECONDS,
        )
        logging.shutdown()
        os._exit(0)

    timer = threading.Timer(SHUTDOWN_DEADLINE_SECONDS, force)
    timer.daemon = True
    timer.start()
