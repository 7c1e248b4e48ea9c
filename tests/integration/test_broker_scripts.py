"""deploy/kafka/start and stop: a second start is a no-op, stop ends the broker, errors are clear."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient, NewTopic

REPO = Path(__file__).resolve().parents[2]
START = REPO / "deploy" / "kafka" / "start"
STOP = REPO / "deploy" / "kafka" / "stop"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def broker_dir(port: str) -> Path:
    """Where deploy/kafka/start keeps a broker's pid file, log and data (link)."""
    return REPO / ".cache" / "kafka" / f"broker-{port}"


def run(script: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(script), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture()
def broker_env() -> Iterator[dict[str, str]]:
    env = dict(os.environ)
    env["KAFKA_PORT"] = str(free_port())
    env["KAFKA_CONTROLLER_PORT"] = str(free_port())
    yield env
    run(STOP, env, "--wipe")


def test_start_twice_is_a_no_op_and_stop_ends_the_broker(broker_env: dict[str, str]) -> None:
    port = broker_env["KAFKA_PORT"]
    first = run(START, broker_env, "--fresh")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"127.0.0.1:{port}"
    pid_file = broker_dir(port) / "broker.pid"
    pid = int(pid_file.read_text())

    began = time.monotonic()
    second = run(START, broker_env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == f"127.0.0.1:{port}"
    assert "already running" in second.stderr
    assert int(pid_file.read_text()) == pid
    assert time.monotonic() - began < 10

    stopped = run(STOP, broker_env)
    assert stopped.returncode == 0, stopped.stderr
    assert not pid_file.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()


def test_start_fresh_on_a_running_broker_restarts_it_empty_and_says_so(broker_env: dict[str, str]) -> None:
    port = broker_env["KAFKA_PORT"]
    first = run(START, broker_env, "--fresh")
    assert first.returncode == 0, first.stderr
    pid_file = broker_dir(port) / "broker.pid"
    old_pid = int(pid_file.read_text())
    admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}")
    admin.create_topics([NewTopic("left-over", 1, 1)])
    admin.close()

    again = run(START, broker_env, "--fresh")
    assert again.returncode == 0, again.stderr
    assert f"--fresh: stopping the running broker (pid {old_pid})" in again.stderr
    assert int(pid_file.read_text()) != old_pid
    with pytest.raises(ProcessLookupError):
        os.kill(old_pid, 0)
    admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}")
    try:
        assert "left-over" not in admin.list_topics()  # the data was wiped
    finally:
        admin.close()


def test_start_refuses_a_taken_port_with_a_clear_message(broker_env: dict[str, str]) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(broker_env["KAFKA_PORT"])))
        squatter.listen()
        result = run(START, broker_env)
    assert result.returncode != 0
    assert f"port {broker_env['KAFKA_PORT']} on 127.0.0.1 is taken" in result.stderr


def test_start_says_java_is_missing(broker_env: dict[str, str], tmp_path: Path) -> None:
    # A PATH with the tools the script needs but no java.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "cat", "dirname", "sed", "head", "python3"):
        found = subprocess.run(
            ["bash", "-c", f"command -v {tool}"], capture_output=True, text=True, check=True
        ).stdout.strip()
        (bin_dir / tool).symlink_to(found)
    env = dict(broker_env, PATH=str(bin_dir))
    result = run(START, env)
    assert result.returncode != 0
    assert "Java 17 or newer is required" in result.stderr


def test_start_says_maven_is_missing_when_the_jars_must_be_fetched(
    broker_env: dict[str, str], tmp_path: Path
) -> None:
    # An empty cache (no jars yet) and a PATH with java but no mvn.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "cat", "dirname", "sed", "head", "python3", "java"):
        found = subprocess.run(
            ["bash", "-c", f"command -v {tool}"], capture_output=True, text=True, check=True
        ).stdout.strip()
        (bin_dir / tool).symlink_to(found)
    env = dict(broker_env, PATH=str(bin_dir), CREDITSTREAM_CACHE=str(tmp_path / "cache"))
    result = run(START, env)
    assert result.returncode != 0
    assert "Maven is required once to fetch the Kafka" in result.stderr


def topics(port: str) -> set[str]:
    admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}")
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def on_tmpfs(path: str) -> bool:
    found = subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True, check=False)
    return found.stdout.strip() == "tmpfs"


@pytest.mark.skipif(not on_tmpfs("/dev/shm"), reason="no tmpfs at /dev/shm")
def test_memory_storage_keeps_data_in_tmpfs_across_a_restart_until_wiped(broker_env: dict[str, str]) -> None:
    env = dict(broker_env, KAFKA_STORAGE="memory", KAFKA_MEMORY_DIR="/dev/shm")
    port = env["KAFKA_PORT"]
    data = broker_dir(port) / "data"
    started = run(START, env, "--fresh")
    assert started.returncode == 0, started.stderr
    assert data.is_symlink()
    in_memory = data.resolve()
    assert in_memory.parent == Path("/dev/shm")
    assert (in_memory / "meta.properties").exists()  # the broker formatted its storage there
    admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}")
    admin.create_topics([NewTopic("kept", 1, 1)])
    admin.close()

    assert run(STOP, env).returncode == 0
    # A restart, even asking for disk, keeps the data where it was created.
    restarted = run(START, dict(env, KAFKA_STORAGE="disk"))
    assert restarted.returncode == 0, restarted.stderr
    assert data.resolve() == in_memory
    assert "kept" in topics(port)

    wiped = run(STOP, env, "--wipe")
    assert wiped.returncode == 0, wiped.stderr
    assert not in_memory.exists()
    assert not data.parent.exists()


def test_memory_storage_needs_a_tmpfs(broker_env: dict[str, str], tmp_path: Path) -> None:
    result = run(START, dict(broker_env, KAFKA_STORAGE="memory", KAFKA_MEMORY_DIR=str(tmp_path)))
    assert result.returncode != 0
    assert f"needs a tmpfs at KAFKA_MEMORY_DIR ('{tmp_path}' is not one)" in result.stderr


def test_auto_storage_falls_back_to_disk_without_a_tmpfs(broker_env: dict[str, str], tmp_path: Path) -> None:
    env = dict(broker_env, KAFKA_STORAGE="auto", KAFKA_MEMORY_DIR=str(tmp_path))
    started = run(START, env, "--fresh")
    assert started.returncode == 0, started.stderr
    assert "KAFKA_STORAGE=auto: the broker's data goes to disk" in started.stderr
    data = broker_dir(env["KAFKA_PORT"]) / "data"
    assert data.is_dir() and not data.is_symlink()


def test_start_refuses_an_unknown_storage(broker_env: dict[str, str]) -> None:
    result = run(START, dict(broker_env, KAFKA_STORAGE="ssd"))
    assert result.returncode != 0
    assert "KAFKA_STORAGE must be disk, memory or auto, got 'ssd'" in result.stderr


def test_wipe_unlinks_a_data_link_of_ones_own_without_deleting_what_it_points_to(
    broker_env: dict[str, str], tmp_path: Path
) -> None:
    precious = tmp_path / "my-own-kafka-data"
    precious.mkdir()
    (precious / "keep.txt").write_text("not the script's to delete")
    own = broker_dir(broker_env["KAFKA_PORT"])
    own.mkdir(parents=True)
    (own / "data").symlink_to(precious)
    wiped = run(STOP, broker_env, "--wipe")
    assert wiped.returncode == 0, wiped.stderr
    assert not own.exists()
    assert (precious / "keep.txt").read_text() == "not the script's to delete"
