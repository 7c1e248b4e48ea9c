"""Broker loss: the broker is SIGKILLed mid-stream and later restarted.

While it is gone the worker says so (/ready 503, /health names the reason), its log stays a few
lines a minute, and SIGTERM ends it within 10 s. Restarted, everything is applied once and live
equals replay of the input log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from streams.policy import default_policy
from streams.testing import LocalWorker, free_port, wait_until
from streams.tools.simulate import Simulation
from tests.faults.invariant import FaultReport, check_invariant, send_lines, write_report
from tests.integration.worker_harness import caught_up

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[2]
START = REPO / "deploy" / "kafka" / "start"
STOP = REPO / "deploy" / "kafka" / "stop"


@pytest.fixture()
def own_broker() -> Iterator[dict[str, str]]:
    """A broker of this test's own (it is killed), on free ports, stopped at the end."""
    env = {**os.environ, "KAFKA_PORT": str(free_port()), "KAFKA_CONTROLLER_PORT": str(free_port())}
    started = subprocess.run(
        [str(START), "--fresh"], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert started.returncode == 0, started.stderr
    env["BOOTSTRAP"] = started.stdout.strip()
    yield env
    subprocess.run([str(STOP), "--wipe"], env=env, capture_output=True, timeout=120, check=False)


def broker_pid(env: dict[str, str]) -> int:
    return int((REPO / ".cache" / "kafka" / f"broker-{env['KAFKA_PORT']}" / "broker.pid").read_text())


def test_the_broker_killed_and_restarted_mid_stream(own_broker: dict[str, str], tmp_path: Path) -> None:
    bootstrap = own_broker["BOOTSTRAP"]
    prefix = f"bl{uuid.uuid4().hex[:6]}."
    worker = LocalWorker(
        bootstrap,
        prefix,
        tmp_path / "state",
        tmp_path / "worker.log",
        extra_env={"CREDITSTREAM_INSTANCE_ID": prefix.strip(".") + "-0"},
    )
    lines = list(Simulation(60, 300, 13, default_policy(), id_prefix="bl-").lines())[:6000]
    half = len(lines) // 2
    report = FaultReport("broker-loss", events=len(lines), users=60)
    try:
        worker.start()
        send_lines(bootstrap, prefix, lines[:half], rate=None).join(120)
        wait_until(lambda: caught_up(worker), 120, "the first half applied")

        os.kill(broker_pid(own_broker), signal.SIGKILL)
        report.kills = 1
        wait_until(lambda: worker.get("/ready")[0] == 503, 20, "/ready to say not ready")
        _, ready = worker.get("/ready")
        assert ready["kafka"].startswith(f"unreachable: {bootstrap}: "), ready
        health_status, health = worker.get("/health")
        assert health_status == 200 and health["kafka"].startswith("unreachable: ")

        # The log while the broker is gone: a few lines a minute, not kilobytes a second.
        time.sleep(5)  # the first reconnect attempts pass
        size_before = worker.log_path.stat().st_size
        lines_before = worker.log_path.read_text(errors="replace").count("\n")
        time.sleep(30)
        grown_lines = worker.log_path.read_text(errors="replace").count("\n") - lines_before
        grown_bytes = worker.log_path.stat().st_size - size_before
        assert grown_lines <= 40 and grown_bytes < 10_000, (grown_lines, grown_bytes)

        # SIGTERM with no broker: the process ends within 10 s.
        assert worker.process is not None
        began = time.monotonic()
        worker.process.send_signal(signal.SIGTERM)
        worker.process.wait(15)
        stopped_in = time.monotonic() - began
        assert stopped_in < 10, stopped_in

        # The broker comes back, with its data; so does the worker; the rest of the stream flows.
        restarted = subprocess.run(
            [str(START)], env=own_broker, capture_output=True, text=True, timeout=180, check=False
        )
        assert restarted.returncode == 0, restarted.stderr
        report.restarts = 1
        killed_at = time.monotonic()
        worker.start(ready_timeout=120)
        report.recovery_seconds.append(round(time.monotonic() - killed_at, 2))
        send_lines(bootstrap, prefix, lines[half:], rate=None).join(120)
        wait_until(lambda: caught_up(worker), 180, "the second half applied")
    finally:
        worker.stop()
    verdict = check_invariant(worker)
    write_report(report, verdict)
    print(
        f"broker loss: {grown_lines} log lines / {grown_bytes} bytes in 30 s, SIGTERM took {stopped_in:.1f} s"
    )
    requests = {
        orjson.loads(x)["event_id"] for x in lines if b'"application"' in x or b'"funding":"credit"' in x
    }
    assert verdict.holds, (verdict.missing[:3], verdict.unexpected[:3], verdict.out_of_order[:3])
    assert requests  # the stream had requests, and each was decided (part of the invariant)
