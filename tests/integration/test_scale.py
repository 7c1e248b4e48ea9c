"""`creditstream bench scale --quick` (issue 38): 100,000 users on one worker stay within
CREDITSTREAM_MEMORY_MB plus the process's idle baseline, and the run says what it measured.
Minutes long: behind --run-slow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams.tools.bench.scale import SMALL_BOOK_USERS, SMALL_BOOKS

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_a_quick_scale_run_stays_within_the_memory_budget(bootstrap: str, tmp_path: Path) -> None:
    figures = tmp_path / "scale.json"
    result = subprocess.run(
        [sys.executable, "-m", "streams", "bench", "scale", "--quick", "--json", str(figures)],
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap},
        capture_output=True,
        timeout=3600,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    measured = json.loads(figures.read_text())
    assert measured["within_budget"] is True
    assert measured["applied"] == measured["events"]
    assert measured["users"] == 100_000 + SMALL_BOOKS * SMALL_BOOK_USERS and measured["windows"]
    # Every small book was timed, and the large one: the ratio compares the two.
    assert len(measured["events_per_second_each_small_book"]) == measured["small_books"] == SMALL_BOOKS
    assert all(rate > 0 for rate in measured["events_per_second_each_small_book"])
    assert measured["cold_restore_seconds"] > 0 and measured["warm_restart_seconds"] > 0
    # The cold restore read the changelog in bulk: at most what was written (less once cleaned).
    assert 0 < measured["cold_restore_records"] <= measured["changelog_records_written"]
    assert measured["events_per_second_10k_users"] and measured["ratio_all_users_to_10k"]
    # The survivor of the failover decided for a user of every partition.
    assert measured["failover_partitions_answered"] == measured["partitions"]
