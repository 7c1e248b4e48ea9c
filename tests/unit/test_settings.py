"""Worker settings from the environment: documented defaults, and bad values named at start."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import faust
import pytest

import streams.kafka.admin
import streams.worker.run
from schemas.topics import (
    DEAD_LETTER,
    DECISIONS,
    EVENTS,
    LEGACY_INPUT_TOPICS,
    LIMIT_CHANGES,
    SCORE_CHANGES,
    TopicSpec,
)
from streams.kafka.partitioning import RememberingPartitioner
from streams.kafka.settings import ENVIRONMENT, Settings, SettingsError
from streams.policy import default_policy
from streams.worker.agents import BATCH_MAX
from streams.worker.app import _credentials, create_app
from streams.worker.run import prepare


def test_defaults_are_the_documented_ones() -> None:
    settings = Settings.from_environment({})
    assert settings.bootstrap_servers == ENVIRONMENT["KAFKA_BOOTSTRAP_SERVERS"][0] == "127.0.0.1:9092"
    assert (settings.partitions, settings.store, settings.web_port) == (8, "rocksdb", 6066)
    assert settings.security_protocol == "PLAINTEXT" and settings.ssl_context() is None
    assert _credentials(settings) is None


def test_the_producer_linger_reaches_the_workers_kafka_producer(tmp_path: Path) -> None:
    """faust takes its linger in seconds, aiokafka in milliseconds: the setting must arrive as set."""
    settings = Settings.from_environment(
        {"CREDITSTREAM_PRODUCER_LINGER_MS": "7", "CREDITSTREAM_STATE_DIR": str(tmp_path)}
    )
    app = create_app(settings, default_policy()).app
    producer: Any = app.producer  # faust's aiokafka producer, which builds aiokafka's settings
    assert app.conf.producer_linger == 0.007
    assert producer._settings_default()["linger_ms"] == 7


def test_the_producer_batch_size_reaches_the_workers_kafka_producer(tmp_path: Path) -> None:
    """A send waits once its partition's batch holds this many bytes: the default must hold a
    backlog batch's changelog writes (BATCH_MAX records over the partitions, a state each: 2.6 to
    2.9 KB a write in `bench worker`, 4.7 KB a user after a 1,000,000-event `bench replay`), and
    stay under Kafka's default max.message.bytes (1 MB)."""
    default = Settings.from_environment({"CREDITSTREAM_STATE_DIR": str(tmp_path)})
    assert BATCH_MAX // default.partitions * 5 * 1024 <= default.producer_batch_bytes < 1_000_000
    settings = Settings.from_environment(
        {"CREDITSTREAM_PRODUCER_BATCH_BYTES": "65536", "CREDITSTREAM_STATE_DIR": str(tmp_path)}
    )
    producer: Any = create_app(settings, default_policy()).app.producer
    assert producer._settings_default()["max_batch_size"] == 65536


def test_the_workers_producer_partitions_through_the_remembering_partitioner(tmp_path: Path) -> None:
    """The same partitions as aiokafka's default, each key hashed once (streams.kafka.partitioning)."""
    settings = Settings.from_environment({"CREDITSTREAM_STATE_DIR": str(tmp_path)})
    producer: Any = create_app(settings, default_policy()).app.producer
    assert isinstance(producer._settings_default()["partitioner"], RememberingPartitioner)


@pytest.mark.parametrize(
    ("environment", "words"),
    [
        ({"CREDITSTREAM_PARTITIONS": "eight"}, "CREDITSTREAM_PARTITIONS='eight' is not a whole number"),
        ({"CREDITSTREAM_PARTITIONS": "0"}, "CREDITSTREAM_PARTITIONS=0 is out of range"),
        ({"CREDITSTREAM_WEB_PORT": "70000"}, "CREDITSTREAM_WEB_PORT=70000 is out of range"),
        (
            {"CREDITSTREAM_PRODUCER_BATCH_BYTES": "1000"},
            "CREDITSTREAM_PRODUCER_BATCH_BYTES=1000 is out of range 16384..67108864",
        ),
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL='TLS' is not one of"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "GSSAPI"},
            "KAFKA_SASL_MECHANISM='GSSAPI'",
        ),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512"},
            "KAFKA_SASL_USERNAME is required when KAFKA_SECURITY_PROTOCOL=SASL_SSL",
        ),
        ({"KAFKA_BOOTSTRAP_SERVERS": "localhost"}, "KAFKA_BOOTSTRAP_SERVERS: 'localhost' is not host:port"),
        ({"CREDITSTREAM_STORE": "redis"}, "CREDITSTREAM_STORE='redis' is not one of rocksdb, memory"),
        (
            {"CREDITSTREAM_POLICY": "/no/such/policy.toml"},
            "CREDITSTREAM_POLICY='/no/such/policy.toml': no such file",
        ),
        ({"KAFKA_SSL_CAFILE": "/no/ca.pem"}, "KAFKA_SSL_CAFILE='/no/ca.pem': no such file"),
        ({"CREDITSTREAM_APP_ID": "credit stream"}, "CREDITSTREAM_APP_ID='credit stream' must be"),
        ({"CREDITSTREAM_LOG_LEVEL": "LOUD"}, "CREDITSTREAM_LOG_LEVEL='LOUD' is not one of"),
        ({"CREDITSTREAM_API_TOKEN": "short"}, "CREDITSTREAM_API_TOKEN must be at least 16 characters"),
        (
            {"CREDITSTREAM_SESSION_TIMEOUT_SECONDS": "1"},
            "CREDITSTREAM_SESSION_TIMEOUT_SECONDS=1 is out of range",
        ),
        ({"CREDITSTREAM_COMMIT_INTERVAL_SECONDS": "soon"}, "is not a number of seconds"),
        ({"CREDITSTREAM_INSTANCE_ID": "pod 1"}, "CREDITSTREAM_INSTANCE_ID='pod 1' must be"),
        ({"CREDITSTREAM_PRODUCER_LINGER_MS": "-1"}, "CREDITSTREAM_PRODUCER_LINGER_MS=-1 is out of range"),
    ],
)
def test_a_bad_value_names_the_variable(environment: dict[str, str], words: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_environment(environment)
    assert words in str(caught.value)


def test_sasl_scram_over_tls_reaches_both_clients() -> None:
    settings = Settings.from_environment(
        {
            "KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
            "KAFKA_SASL_MECHANISM": "scram-sha-512",
            "KAFKA_SASL_USERNAME": "credit",
            "KAFKA_SASL_PASSWORD": "secret",
        }
    )
    assert "secret" not in repr(settings)
    assert settings.kafka_python_config() == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "credit",
        "sasl_plain_password": "secret",
        "ssl_cafile": None,
        "ssl_certfile": None,
        "ssl_keyfile": None,
    }
    credentials = _credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.ssl_context is not None


def test_the_worker_stops_at_start_with_one_clear_line_for_bad_configuration(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "streams", "worker"],
        env={"PATH": "/usr/bin:/bin", "CREDITSTREAM_PARTITIONS": "eight", "HOME": str(tmp_path)},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == b"creditstream: CREDITSTREAM_PARTITIONS='eight' is not a whole number"


def test_the_worker_refuses_to_serve_users_beyond_loopback_without_a_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings.from_environment({"CREDITSTREAM_WEB_HOST": "0.0.0.0"})  # a tool may load it
    monkeypatch.setattr(streams.kafka.admin, "ensure_topics", lambda *_, **__: [])
    with pytest.raises(SettingsError) as caught:
        prepare(settings)
    assert str(caught.value).startswith(
        "CREDITSTREAM_WEB_HOST='0.0.0.0' would serve /users/{id} beyond this machine without "
        "authentication: set CREDITSTREAM_API_TOKEN"
    )


def test_a_token_lets_the_worker_listen_beyond_loopback_and_is_never_shown() -> None:
    settings = Settings.from_environment(
        {"CREDITSTREAM_WEB_HOST": "0.0.0.0", "CREDITSTREAM_API_TOKEN": "a-token-of-twenty-chars"}
    )
    assert settings.api_token == "a-token-of-twenty-chars"
    assert "a-token-of-twenty-chars" not in repr(settings)


def worker_without_a_broker(tmp_path: Path, **env: str) -> tuple[int, list[str]]:
    """`creditstream worker` pointed at a port where no broker is: (exit code, stderr lines)."""
    result = subprocess.run(
        [sys.executable, "-m", "streams", "worker"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", **env},
        capture_output=True,
        timeout=60,
        check=False,
    )
    return result.returncode, result.stderr.decode().strip().splitlines()


def test_an_unwritable_state_directory_is_one_line_at_start(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code, lines = worker_without_a_broker(tmp_path, CREDITSTREAM_STATE_DIR=str(blocker / "state"))
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith(
        f"creditstream: CREDITSTREAM_STATE_DIR={str(blocker / 'state')!r} is not a writable directory:"
    ), lines


def test_the_timeline_is_off_unless_a_file_is_named(tmp_path: Path) -> None:
    assert Settings.from_environment({}).timeline_path is None
    assert Settings.from_environment({"CREDITSTREAM_TIMELINE": "  "}).timeline_path is None
    where = tmp_path / "timeline.jsonl"
    assert Settings.from_environment({"CREDITSTREAM_TIMELINE": str(where)}).timeline_path == where


def test_a_timeline_file_that_cannot_be_written_is_one_line_at_start(tmp_path: Path) -> None:
    where = tmp_path / "no-such-directory" / "timeline.jsonl"
    code, lines = worker_without_a_broker(
        tmp_path, CREDITSTREAM_STATE_DIR=str(tmp_path / "state"), CREDITSTREAM_TIMELINE=str(where)
    )
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith(
        f"creditstream: CREDITSTREAM_TIMELINE={str(where)!r} cannot be written:"
    ), lines


def test_created_topics_keep_the_lenders_records_for_the_configured_retention(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created: list[TopicSpec] = []

    def capture(*_: Any, topics: list[TopicSpec], **__: Any) -> list[str]:
        created.extend(topics)
        return []

    monkeypatch.setattr(streams.kafka.admin, "ensure_topics", capture)
    monkeypatch.setattr(streams.worker.run, "check_connection", lambda *_: None)
    monkeypatch.setattr(streams.worker.run, "check_role", lambda *_, **__: contextlib.nullcontext())
    prepare(Settings.from_environment({"CREDITSTREAM_RECORD_RETENTION_DAYS": "3650"}))
    retention = {spec.name: int(spec.config()["retention.ms"]) for spec in created}
    ten_years = 3650 * 24 * 3600 * 1000
    for spec in (EVENTS, DECISIONS, SCORE_CHANGES, LIMIT_CHANGES, DEAD_LETTER):
        assert retention[spec.name] == ten_years
    for spec in LEGACY_INPUT_TOPICS:
        assert retention[spec.name] == spec.retention_ms  # forwarded, not kept


def test_no_broker_at_start_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    code, lines = worker_without_a_broker(tmp_path, CREDITSTREAM_STATE_DIR=str(tmp_path / "state"))
    assert code == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith("creditstream: no Kafka broker answers at 127.0.0.1:"), lines


def test_secrets_come_from_files_as_mounted_secrets_do(tmp_path: Path) -> None:
    password, token = tmp_path / "password", tmp_path / "token"
    password.write_text("s3cret-from-a-file\n")
    token.write_text("a-token-of-at-least-16-chars\n")
    settings = Settings.from_environment(
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": "worker",
            "KAFKA_SASL_PASSWORD_FILE": str(password),
            "CREDITSTREAM_API_TOKEN_FILE": str(token),
        }
    )
    assert settings.sasl_password == "s3cret-from-a-file"
    assert settings.api_token == "a-token-of-at-least-16-chars"
    assert "s3cret" not in repr(settings) and "a-token" not in repr(settings)


def test_a_secret_file_that_cannot_be_read_or_a_secret_given_twice_is_refused(tmp_path: Path) -> None:
    missing = str(tmp_path / "absent")
    with pytest.raises(SettingsError, match=r"KAFKA_SASL_PASSWORD_FILE=.* cannot be read"):
        Settings.from_environment({"KAFKA_SASL_PASSWORD_FILE": missing})
    (tmp_path / "p").write_text("x")
    with pytest.raises(SettingsError, match="one of KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE"):
        Settings.from_environment(
            {"KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "p"), "KAFKA_SASL_PASSWORD": "y"}
        )
