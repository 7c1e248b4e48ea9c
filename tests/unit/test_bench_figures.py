"""Bench helpers: where the broker's data lives decides what its latency means, and waiting on a
worker's count must not cost the worker what it measures."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka.errors import KafkaError

from streams.tools.bench import worker as bench
from streams.tools.bench.paced import Lateness
from streams.tools.bench.worker import local_filesystem


def test_the_deepest_mount_holding_a_path_names_its_filesystem(tmp_path: Path) -> None:
    data = tmp_path / "my data" / "kafka"
    data.mkdir(parents=True)
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/vda / ext4 rw 0 0\n"
        f"tmpfs {tmp_path} tmpfs rw 0 0\n"
        f"tmpfs {str(tmp_path / 'my data').replace(' ', chr(92) + '040')} ramfs rw 0 0\n"
        f"tmpfs {tmp_path / 'a'} xfs rw 0 0\n"
    )
    (tmp_path / "ab").mkdir()  # starts like the mount point a, but is not under it
    assert local_filesystem(str(data), mounts) == "ramfs"
    assert local_filesystem(str(mounts), mounts) == "tmpfs"
    assert local_filesystem("/", mounts) == "ext4"
    assert local_filesystem(str(tmp_path / "ab"), mounts) == "tmpfs"


def test_a_link_is_followed_to_where_the_data_is(tmp_path: Path) -> None:
    target = tmp_path / "memory"
    target.mkdir()
    (tmp_path / "disk").mkdir()
    link = tmp_path / "disk" / "data"
    link.symlink_to(target)
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/vda {tmp_path} ext4 rw 0 0\ntmpfs {target} tmpfs rw 0 0\n")
    assert local_filesystem(str(link), mounts) == "tmpfs"


def test_a_directory_not_on_this_machine_has_no_filesystem(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text("/dev/vda / ext4 rw 0 0\n")
    assert local_filesystem(str(tmp_path / "elsewhere"), mounts) is None


def test_a_failed_cleanup_does_not_hide_why_the_run_failed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def run_fails(*args: object) -> None:
        raise RuntimeError("the worker never became ready")

    def delete_fails(*args: object, **options: object) -> None:
        raise KafkaError("no broker answers")

    monkeypatch.setattr(bench, "_bench_worker", run_fails)
    monkeypatch.setattr(bench, "delete_topics_starting_with", delete_fails)
    with pytest.raises(RuntimeError, match="never became ready"):
        bench.bench_worker("127.0.0.1:1", 1000, None, 1, tmp_path)
    assert "could not delete this run's topics (bench" in caplog.text


class _Answering:
    def __init__(self, status: int, body: object) -> None:
        self.answer = (status, body)

    def get(self, path: str) -> tuple[int, object]:
        assert path == "/metrics"
        return self.answer


def test_the_stage_figures_read_only_workers_that_answer_with_metrics() -> None:
    workers = [_Answering(200, "# metrics\n"), _Answering(0, None), _Answering(503, {"ready": False})]
    assert bench._metrics_texts(workers) == ["# metrics\n"]  # type: ignore[arg-type]


class _FakeTime:
    """A clock that moves only when slept on, and a count that grows at ``rate`` per second."""

    def __init__(self, rate: float, start_count: int = 0) -> None:
        self.now = 0.0
        self.rate = rate
        self.start_count = start_count
        self.asks = 0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def count(self) -> int:
        self.asks += 1
        return self.start_count + int(self.rate * self.now)


def test_the_count_is_asked_about_once_a_second_and_its_end_seen_within_the_finest_wait() -> None:
    fake = _FakeTime(rate=1_000)  # 30,000 events: done at 30 s
    bench.wait_for_count(fake.count, 30_000, 1800, "the backlog", clock=fake.clock, sleep=fake.sleep)
    assert 30.0 <= fake.now <= 30.0 + 0.1 + 1e-9
    assert fake.asks <= 45  # ten a second would be 300


def test_a_count_already_there_returns_at_once() -> None:
    fake = _FakeTime(rate=0, start_count=500)
    bench.wait_for_count(fake.count, 500, 10, "nothing", clock=fake.clock, sleep=fake.sleep)
    assert fake.now == 0 and fake.asks == 1


def test_a_count_that_never_gets_there_times_out_naming_what_it_waited_for() -> None:
    fake = _FakeTime(rate=0)
    with pytest.raises(TimeoutError, match="waiting for the backlog"):
        bench.wait_for_count(fake.count, 10, 5, "the backlog", clock=fake.clock, sleep=fake.sleep)
    assert 5 <= fake.now <= 6


def test_the_load_generators_lateness_is_its_worst_per_window_of_the_schedule() -> None:
    """On time in the first window; in the second it stalled 0.6 s and caught up (the events
    due meanwhile all left at once); nothing due in the third; one late event in the fourth."""
    lateness = Lateness(window_ms=1000)
    for n in range(10):
        lateness.add(n * 0.1, n * 0.1 + 0.004)
    for n in range(10, 20):
        lateness.add(n * 0.1, max(n * 0.1, 1.7) + 0.001)
    lateness.add(3.5, 3.5 + 0.25)
    lateness.add(3.6, 3.6 - 0.001)  # early never counts as negative lateness
    assert lateness.by_window() == [4, 701, 0, 250]
    assert Lateness().by_window() == []
