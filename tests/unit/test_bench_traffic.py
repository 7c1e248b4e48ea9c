"""The bench's steady traffic, second by second: what `bench worker` sends and what it costs."""

from __future__ import annotations

import json
from pathlib import Path

import orjson

from streams.policy import default_policy
from streams.tools.bench import traffic


def test_each_second_counts_its_events_by_type_and_the_states_they_changed() -> None:
    policy = default_policy()
    lines = traffic.steady_lines(300, policy)
    assert lines == traffic.steady_lines(300, policy)  # the bench's traffic is the same each run
    seconds = traffic.second_costs(lines, 100, policy)
    assert [row["second"] for row in seconds] == [0, 1, 2]
    assert all(row["events"] == sum(row["types"].values()) == 100 for row in seconds)
    users = {orjson.loads(line)["user_id"] for line in lines}
    opened = sum(row["types"].get("account_opened", 0) for row in seconds)
    assert opened == len(users) == 20  # every user of the simulation opens an account first
    assert seconds[0]["types"].get("account_opened") == 20  # ... within the first second
    assert all(0 < row["changed_users"] <= len(users) for row in seconds)
    assert all(row["state_bytes_mean"] > 0 and row["engine_ms"] > 0 and row["outputs"] > 0 for row in seconds)


def test_the_command_prints_a_table_and_writes_the_seconds(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "traffic.json"
    assert traffic.main(["--rate", "50", "--seconds", "2", "--json", str(out)]) == 0
    written = json.loads(out.read_text())
    assert [row["second"] for row in written] == [0, 1]
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("second") and "engine_ms" in printed[0]
    assert len(printed) == 1 + 2 + 1  # the header, one line a second, where the figures went
