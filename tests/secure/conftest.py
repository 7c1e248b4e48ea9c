"""The secured broker (SASL_SSL, SCRAM-SHA-512, ACLs required) that scripts/test starts beside the
plain one with `deploy/kafka/start --secure`; its roles' settings are files in its secure/ directory."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SecureBroker:
    directory: Path

    def env(self, role: str) -> dict[str, str]:
        """The role's KAFKA_* settings, as deploy/kafka/start --secure wrote them."""
        values: dict[str, str] = {}
        for line in (self.directory / f"{role}.env").read_text().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.partition("=")
                values[name] = value
        return values

    @property
    def bootstrap(self) -> str:
        return self.env("admin")["KAFKA_BOOTSTRAP_SERVERS"]

    def password(self, role: str) -> str:
        return (self.directory / f"{role}.password").read_text().strip()

    def kafka_config(self, role: str) -> dict[str, Any]:
        """kafka-python settings for the role."""
        return {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": role,
            "sasl_plain_password": self.password(role),
            "ssl_cafile": str(self.directory / "ca.pem"),
        }

    def cli(
        self, role: str, *args: str, timeout: float = 120, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """`creditstream ARGS` as the role."""
        return subprocess.run(
            [sys.executable, "-m", "streams", *args],
            env={**os.environ, **self.env(role), **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
            check=False,
        )


@pytest.fixture(scope="session")
def secure() -> SecureBroker:
    directory = os.environ.get("CREDITSTREAM_TEST_SECURE_DIR", "")
    if not directory or not (Path(directory) / "admin.env").is_file():
        pytest.fail(
            "no secured broker: scripts/test starts one (deploy/kafka/start --secure) and sets "
            f"CREDITSTREAM_TEST_SECURE_DIR to its secure/ directory (got {directory!r})"
        )
    return SecureBroker(Path(directory))


@pytest.fixture()
def prefix() -> str:
    return f"sec-{uuid.uuid4().hex[:8]}."
