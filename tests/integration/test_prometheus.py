"""Monitoring proven, not assumed (issue 13): promtool checks the config and the alert rules, and a
real Prometheus scrapes a running worker while events flow. Every Grafana panel's expression and
every alert's expression, queried through Prometheus's HTTP API, returns data, or is well formed
and names only metrics the worker exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from schemas.producer import CreditEventProducer
from streams.policy import default_policy
from streams.testing import LocalWorker, free_port, wait_until
from streams.tools.simulate import Simulation

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: scripts/setup installs Debian's prometheus package")
    return found


def test_promtool_accepts_the_config_and_the_alert_rules() -> None:
    for command in (["check", "config", "prometheus.yml"], ["check", "rules", "alerts.yml"]):
        checked = subprocess.run(
            [tool("promtool"), *command],
            cwd=PROMETHEUS_DIR,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "SUCCESS" in checked.stdout + checked.stderr


@pytest.fixture(scope="module")
def worker(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWorker]:
    directory = tmp_path_factory.mktemp("monitored")
    running = LocalWorker(
        bootstrap, f"pm{uuid.uuid4().hex[:8]}.", directory / "state", directory / "worker.log"
    )
    running.start()
    yield running
    running.stop()


class Prometheus:
    """A real Prometheus on 127.0.0.1 with the project's alert rules, scraping one worker."""

    def __init__(self, worker: LocalWorker, directory: Path) -> None:
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(PROMETHEUS_DIR / "alerts.yml")],
            "scrape_configs": [
                {
                    "job_name": "creditstream",
                    "metrics_path": "/metrics",
                    "static_configs": [{"targets": [f"127.0.0.1:{worker.port}"]}],
                }
            ],
        }
        config_path = directory / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        self.log = (directory / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [
                tool("prometheus"),
                f"--config.file={config_path}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def get(self, path: str, **query: str) -> Any:
        url = f"http://127.0.0.1:{self.port}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def query(self, expression: str) -> list[Any]:
        answer = self.get("/api/v1/query", query=expression)
        assert answer["status"] == "success", (expression, answer)
        result: list[Any] = answer["data"]["result"]
        return result

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


@pytest.fixture(scope="module")
def prometheus(worker: LocalWorker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    server = Prometheus(worker, tmp_path_factory.mktemp("prometheus"))
    try:
        wait_until(server.ready, 60, "Prometheus to be ready")
        yield server
    finally:
        server.stop()


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((REPO / "deploy" / "grafana" / "dashboards" / "creditstream.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def alert_rules() -> list[dict[str, Any]]:
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    return [rule for group in rules["groups"] for rule in group["rules"]]


def exported_names(worker: LocalWorker) -> set[str]:
    """Every metric name the worker's /metrics declares, with the series names derived from it."""
    status, body = worker.get("/metrics")
    assert status == 200
    names = set(re.findall(r"^# TYPE (\S+) ", body, re.M))
    return {f"{name}{suffix}" for name in names for suffix in ("", "_total", "_bucket", "_count", "_sum")}


def flow_events(worker: LocalWorker, seconds: float) -> None:
    """Simulated events spread evenly over ``seconds``, with a bad one now and then (dead letters)."""
    lines = list(Simulation(40, 30, 3, default_policy(), id_prefix="pm-").lines())
    chunks = 16
    size = len(lines) // chunks + 1
    with CreditEventProducer(worker.bootstrap, topic_prefix=worker.prefix) as producer:
        for start in range(0, len(lines), size):
            for line in lines[start : start + size]:
                head = orjson.loads(line)
                producer.send_bytes(head["type"], head["user_id"], line)
            producer.send_bytes("purchase", head["user_id"], b"{not json")
            producer.flush()
            time.sleep(seconds / chunks)


def test_a_real_prometheus_scrapes_the_worker_and_every_panel_and_alert_expression_is_sound(
    worker: LocalWorker, prometheus: Prometheus
) -> None:
    # Prometheus scrapes a new target only after its discovery settles (seconds): events flow once
    # it does, so that it sees the counters move.
    wait_until(lambda: bool(prometheus.query('up{job="creditstream"} == 1')), 30, "a successful scrape")
    flow_events(worker, seconds=8)
    wait_until(
        lambda: bool(prometheus.query("sum(rate(creditstream_decisions_total[1m])) > 0")),
        60,
        "decisions in Prometheus",
    )
    exported = exported_names(worker)
    assert "creditstream_build_info" in exported and not any(n.startswith("faust_") for n in exported)

    empty: list[str] = []
    for expression in dashboard_expressions() + [rule["expr"] for rule in alert_rules()]:
        if prometheus.query(expression):
            continue
        # No data (e.g. shadow mode is off, or an alert's condition is false): then it must at least
        # name only metrics the worker exports; a typo would otherwise stay silent for good.
        named = set(re.findall(r"\bcreditstream_[a-z_]+", expression))
        assert named <= exported, (expression, named - exported)
        empty.append(expression)
    # The panels that show the flow itself do return data.
    for expression in dashboard_expressions():
        if re.search(
            r"creditstream_(events|decisions|event_to_decision_seconds_bucket|build_info|batch_records_sum)\b",
            expression,
        ):
            assert expression not in empty, expression

    loaded = prometheus.get("/api/v1/rules")["data"]["groups"]
    rules = [rule for group in loaded for rule in group["rules"]]
    assert {rule["name"] for rule in rules} == {rule["alert"] for rule in alert_rules()}
    assert all(rule["health"] == "ok" for rule in rules), [(r["name"], r.get("lastError")) for r in rules]
