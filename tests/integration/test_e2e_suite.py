"""The end-to-end suite that compose's test profile runs in a container (tests/e2e), run here
against a real broker and a worker process: Docker has no engine on these machines."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from streams.engine import ENGINE
from streams.testing import LocalWorker

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parents[2]


def test_the_e2e_suite_passes_against_a_running_worker(bootstrap: str, tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    worker = LocalWorker(
        bootstrap, f"e2e{uuid.uuid4().hex[:6]}.", tmp_path / "state", tmp_path / "worker.log",
        extra_env={"CREDITSTREAM_API_TOKEN": token},
    )  # fmt: skip
    worker.start()
    try:
        ran = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/e2e"],
            cwd=REPO,
            env={
                **os.environ,
                "CREDITSTREAM_E2E_BOOTSTRAP": bootstrap,
                "CREDITSTREAM_E2E_WORKER_URL": f"http://127.0.0.1:{worker.port}",
                "CREDITSTREAM_E2E_TOKEN": token,
                "CREDITSTREAM_E2E_TOPIC_PREFIX": worker.prefix,
                "CREDITSTREAM_E2E_ENGINE": ENGINE,  # the worker runs in this environment
            },
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        worker.stop()
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    assert "5 passed" in ran.stdout, ran.stdout[-2000:]
