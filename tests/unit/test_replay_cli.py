"""`creditstream replay`: JSONL in, every output as JSONL out, bad lines dead-lettered, clear errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from streams.policy import DEFAULT_POLICY_PATH, default_policy
from streams.tools.partitioned import user_of
from streams.tools.simulate import Simulation

EVENTS = [
    {
        "event_id": "o1",
        "type": "account_opened",
        "user_id": "u1",
        "occurred_at": "2026-01-01T10:00:00+08:00",
        "segment": "consumer",
        "monthly_income": "15000",
    },
    {
        "event_id": "p1",
        "type": "purchase",
        "user_id": "u1",
        "occurred_at": "2026-01-02T10:00:00+08:00",
        "amount": "500",
        "merchant_id": "m",
        "merchant_category": "food",
        "funding": "credit",
    },
    {
        "event_id": "a1",
        "type": "application",
        "user_id": "u2",
        "occurred_at": "2026-01-02T11:00:00+08:00",
        "product": "cash_loan",
        "amount": "1000",
        "term_months": 6,
    },
    {
        "event_id": "r1",
        "type": "refund",
        "user_id": "u1",
        "occurred_at": "2026-01-03T10:00:00+08:00",
        "amount": "900",
        "purchase_event_id": "p1",
    },
]


def write_log(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def replay(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "streams", "replay", *map(str, args)],
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.fixture()
def log(tmp_path: Path) -> Path:
    lines = [orjson.dumps(e) for e in EVENTS]
    lines.insert(2, b"{not json")
    return write_log(tmp_path / "events.jsonl", lines)


def test_replay_writes_every_output_with_its_type_and_dead_letters_bad_lines(log: Path) -> None:
    result = replay(log)
    assert result.returncode == 0, result.stderr
    outputs = [orjson.loads(line) for line in result.stdout.splitlines()]
    kinds = [o["type"] for o in outputs]
    assert kinds.count("decision") == 2
    assert {"score_changed", "limit_changed", "dead_letter"} <= set(kinds)
    # Replay writes the offers too: each user's first event gives its whole picture.
    offers = [o for o in outputs if o["type"] == "offer_changed"]
    assert {o["user_id"] for o in offers} == {"u1", "u2"}
    assert all(len(o["offers"]) == 4 for o in offers)
    dead = [o for o in outputs if o["type"] == "dead_letter"]
    assert [(d["source_topic"], d["offset"]) for d in dead] == [("replay", 3), ("replay", 5)]
    assert dead[0]["error"].startswith("not valid JSON") and dead[0]["raw"] == "{not json"
    assert "exceeds what is left of purchase 'p1'" in dead[1]["error"]
    assert b"5 lines, 3 applied, 0 duplicates, 2 dead letters, 2 users" in result.stderr


def test_replay_is_deterministic_and_writes_to_out(log: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert replay(log, "--out", first).returncode == 0
    assert replay(log, "--out", second).returncode == 0
    assert first.read_bytes() == second.read_bytes() == replay(log).stdout
    assert first.read_bytes()


def test_replay_uses_the_given_policy(log: Path, tmp_path: Path) -> None:
    strict = tmp_path / "strict.toml"
    strict.write_text(re.sub(r'(?m)^version = ".*"$', 'version = "strict"', DEFAULT_POLICY_PATH.read_text()))
    result = replay(log, "--policy", strict)
    decisions = [orjson.loads(x) for x in result.stdout.splitlines() if b'"decision"' in x]
    assert {d["policy_version"] for d in decisions} == {"strict"}


def test_a_missing_input_file_is_a_clear_error(tmp_path: Path) -> None:
    result = replay(tmp_path / "nope.jsonl")
    assert result.returncode == 2
    assert b"cannot read input file" in result.stderr and b"nope.jsonl" in result.stderr


@pytest.mark.parametrize(
    ("policy_text", "words"),
    [("version = ", b"is not valid TOML"), ('version = "x"\n', b"rules: Field required")],
)
def test_a_bad_policy_is_a_clear_error(log: Path, tmp_path: Path, policy_text: str, words: bytes) -> None:
    policy = tmp_path / "bad.toml"
    policy.write_text(policy_text)
    result = replay(log, "--policy", policy)
    assert result.returncode == 2
    assert words in result.stderr and b"bad.toml" in result.stderr


def test_a_missing_policy_file_is_a_clear_error(log: Path, tmp_path: Path) -> None:
    result = replay(log, "--policy", tmp_path / "missing.toml")
    assert result.returncode == 2
    assert b"cannot read policy file" in result.stderr


def test_replay_on_a_local_dask_cluster_writes_exactly_what_one_process_writes(tmp_path: Path) -> None:
    """Users split by partition across Dask workers, outputs merged by line: the same bytes, dead
    letters included."""
    lines = list(Simulation(30, 60, 9, default_policy()).lines())
    lines[10:10] = [b"{not json", b'{"type": "purchase", "user_id": "u0000001"}', b"[1, 2]"]
    lines.append(b'{"user_id" :  "u0000002", "type": "sale", "event_id": "odd", "occurred_at": '
                 b'"2024-03-01T10:00:00+08:00", "amount": "5"}')  # fmt: skip
    log = write_log(tmp_path / "sim.jsonl", lines)
    one, three = tmp_path / "one.jsonl", tmp_path / "three.jsonl"
    single = replay(log, "--out", one)
    sharded = replay(log, "--out", three, "--jobs", "3")
    assert single.returncode == sharded.returncode == 0, sharded.stderr
    assert one.read_bytes() == three.read_bytes() and one.stat().st_size > 0
    # The summary counts the same, too (all but the time).
    counts = [run.stderr.splitlines()[-1].split(b";")[:2] for run in (single, sharded)]
    assert counts[0] == counts[1]


def test_every_line_of_a_user_is_read_as_that_users() -> None:
    """The split by partition finds the user of every form of line, so a user's lines stay together."""
    plain = b'{"event_id": "e", "user_id": "u-7", "type": "sale"}'
    spaced = b'{"event_id": "e2",  "user_id" :"u-7", "type": "sale"}'
    escaped_first = b'{"reason": "\\"user_id\\":\\"x\\"", "user_id": "u-7"}'
    record = (
        b'{"record": {"topic": "credit.events"}, "value": "{\\"user_id\\":\\"u-7\\",\\"type\\":\\"sale\\"}"}'
    )
    assert {user_of(line) for line in (plain, spaced, escaped_first, record)} == {b"u-7"}
    assert user_of(b"{not json") is None
