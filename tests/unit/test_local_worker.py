"""streams.testing.LocalWorker: a wait on a worker's progress stops when its process is gone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from streams.testing import LocalWorker


def test_a_worker_that_exited_is_reported_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text("Drain messages raised: AttributeError\n")
    worker = LocalWorker("127.0.0.1:1", "t.", tmp_path / "state", log)
    worker.process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    worker.process.wait(30)
    with pytest.raises(RuntimeError, match=r"worker exited with 3:\nDrain messages raised"):
        worker.check_running()


def test_a_running_worker_passes_the_check(tmp_path: Path) -> None:
    worker = LocalWorker("127.0.0.1:1", "t.", tmp_path / "state", tmp_path / "worker.log")
    worker.process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        worker.check_running()
    finally:
        worker.process.kill()
        worker.process.wait(10)
