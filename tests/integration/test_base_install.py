"""The producer client without the worker (issue 13): a fresh virtual environment with the base
install only imports the client, validates an event and sends it to the real broker; Faust and
RocksDB are not there, and the `creditstream` command says which extra it needs."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from schemas.topics import ALL_TOPICS, EVENTS
from streams.kafka.admin import ensure_topics
from streams.testing import read_topic

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parents[2]

CLIENT_SCRIPT = """
import importlib.util, sys
from schemas.producer import CreditEventProducer, InvalidEventError
assert importlib.util.find_spec("faust") is None, "faust must not come with the base install"
assert importlib.util.find_spec("rocksdict") is None, "rocksdict must not come with the base install"
bootstrap, prefix = sys.argv[1], sys.argv[2]
event = {"event_id": "base-1", "type": "purchase", "user_id": "u-base",
         "occurred_at": "2026-03-03T19:30:00+08:00", "amount": "129.90", "merchant_id": "m-77",
         "merchant_category": "groceries", "funding": "credit"}
try:
    CreditEventProducer.validate({**event, "amount": "-1"})
    raise SystemExit("an invalid event was accepted")
except InvalidEventError as exc:
    print("invalid:", exc.errors)
with CreditEventProducer(bootstrap, topic_prefix=prefix) as producer:
    producer.send(event).get(timeout=30)
print("sent")
"""


def test_the_base_install_validates_and_sends_an_event_without_the_worker(
    bootstrap: str, unique_prefix: str, tmp_path: Path
) -> None:
    source = tmp_path / "source"  # a copy: building in the repository would leave build/ behind
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for package in ("schemas", "streams"):
        shutil.copytree(REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json"], capture_output=True, timeout=60, check=True
    )
    names = {package["name"].lower() for package in orjson.loads(listed.stdout)}
    assert {"pydantic", "kafka-python", "orjson"} <= names
    assert not names & {"faust-streaming", "rocksdict", "aiokafka", "typer", "prometheus-client"}, names

    ensure_topics(
        bootstrap, 4, topics=[dataclasses.replace(s, name=unique_prefix + s.name) for s in ALL_TOPICS]
    )
    ran = subprocess.run(
        [str(python), "-c", CLIENT_SCRIPT, bootstrap, unique_prefix],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,  # not the repository: import the installed package
    )
    assert ran.returncode == 0, ran.stderr
    assert "invalid: amount" in ran.stdout and "sent" in ran.stdout
    records = [orjson.loads(value) for value in read_topic(bootstrap, unique_prefix + EVENTS.name)]
    assert [r["event_id"] for r in records] == ["base-1"]

    command = subprocess.run(
        [str(venv / "bin" / "creditstream"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert command.returncode == 2
    assert "pip install 'creditstream[worker]'" in command.stderr
