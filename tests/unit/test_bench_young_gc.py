"""The young collector pass after a while of steady traffic: what it scans grows with the while."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest

from streams.policy import default_policy
from streams.tools.bench import traffic, young_gc


def test_a_young_pass_finds_more_the_longer_the_users_states_changed_since_the_last() -> None:
    policy = default_policy()
    lines = traffic.steady_lines(200 * 6, policy)
    enabled = gc.isenabled()
    every_second = young_gc.young_passes(lines, 200, 1, policy)
    every_three = young_gc.young_passes(lines, 200, 3, policy)
    assert gc.isenabled() == enabled  # the process's collector is as it was
    assert [row["after_seconds"] for row in every_second] == [2, 3, 4, 5, 6]
    assert [row["after_seconds"] for row in every_three] == [6]
    assert all(row["young_objects"] > 0 and row["users_changed"] > 0 for row in every_second)
    assert all(row["pass_ms"] >= 0 for row in every_second + every_three)
    # three seconds of changed states hold more containers than any one second of them
    assert every_three[0]["young_objects"] > max(row["young_objects"] for row in every_second)


def test_the_command_prints_the_passes_and_writes_them_by_interval(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "young.json"
    assert young_gc.main(["--rate", "50", "--every", "1", "2", "--seconds", "4", "--json", str(out)]) == 0
    written = json.loads(out.read_text())
    assert [row["after_seconds"] for row in written["1"]] == [2, 3, 4]
    assert [row["after_seconds"] for row in written["2"]] == [4]
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == ["every_s", "after_s", "young_objects", "users_changed", "pass_ms"]
    assert len(printed) == 1 + 4 + 1  # the header, one line a pass, where the figures went


def test_an_interval_too_long_for_the_traffic_is_refused_with_the_reason(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exit_:  # a warm-up and no pass after it
        young_gc.main(["--rate", "50", "--every", "3", "--seconds", "4"])
    assert exit_.value.code == 2
    assert "--seconds at least twice the largest --every" in capsys.readouterr().err
