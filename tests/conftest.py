"""Shared test options and fixtures.

--run-slow enables the long fault and soak runs (tests marked ``slow``). Broker tests talk to the
real Kafka broker named by KAFKA_BOOTSTRAP_SERVERS: scripts/test starts one and exports it. Without
a reachable broker they fail with a message saying how to start one: never skipped silently.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest
from kafka.admin import KafkaAdminClient


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="run long load and soak tests")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip_slow = pytest.mark.skip(reason="long run: pass --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(scope="session")
def bootstrap() -> str:
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
    if not servers:
        pytest.fail(
            "KAFKA_BOOTSTRAP_SERVERS is not set: run the tests with scripts/test, which starts a broker"
        )
    host, _, port = servers.split(",")[0].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except OSError as exc:
        pytest.fail(f"no Kafka broker answers at {servers} ({exc}); start one with deploy/kafka/start")
    return servers


@pytest.fixture()
def unique_prefix() -> str:
    """A topic-name prefix of this test's own, so tests never read each other's messages."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture()
def admin(bootstrap: str) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="creditstream-tests")
    yield client
    client.close()
