"""`creditstream simulate`, `backtest` and policy inheritance, on small inputs, bad input included."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from collections import Counter
from pathlib import Path

import orjson
import pytest

from schemas.codec import DecodeError, decode_event
from schemas.topics import DECISIONS, EVENTS
from streams.policy import (
    DEFAULT_POLICY_PATH,
    PolicyError,
    default_policy,
    load_policy,
    policy_with_overrides,
)
from streams.tools.bench.worker import _bench_topic
from streams.tools.simulate import Simulation

STRICTER = DEFAULT_POLICY_PATH.parent / "stricter.toml"


def cli(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "streams", *map(str, args)], capture_output=True, timeout=300, check=False
    )


# -- simulate ------------------------------------------------------------------------------------


def test_simulate_is_deterministic_for_a_seed_and_differs_across_seeds(tmp_path: Path) -> None:
    first = cli("simulate", "--users", "40", "--days", "20", "--seed", "7")
    second = cli("simulate", "--users", "40", "--days", "20", "--seed", "7")
    other = cli("simulate", "--users", "40", "--days", "20", "--seed", "8")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout != other.stdout
    assert b"simulate: " in first.stderr and b"users by persona:" in first.stderr
    out = tmp_path / "events.jsonl"
    assert cli("simulate", "--users", "40", "--days", "20", "--seed", "7", "--out", out).returncode == 0
    assert out.read_bytes() == first.stdout


def test_simulated_events_are_valid_in_time_order_and_cover_every_persona_and_delinquency() -> None:
    simulation = Simulation(users=300, days=200, seed=2, policy=default_policy())
    lines = list(simulation.lines())
    events = [decode_event(line) for line in lines]
    assert not [e for e in events if isinstance(e, DecodeError)]
    valid = [e for e in events if not isinstance(e, DecodeError)]
    times = [e.occurred_at for e in valid]
    assert times == sorted(times)
    assert set(simulation.personas) == {"salaried", "student", "merchant", "invited", "troubled"}
    types = Counter(e.type for e in valid)
    assert set(types) == {
        "account_opened",
        "purchase",
        "refund",
        "sale",
        "repayment",
        "delinquency",
        "application",
    }
    dpd = Counter(e.days_past_due for e in valid if e.type == "delinquency")
    assert {0, 1, 30, 60, 90} <= set(dpd), dpd  # aging through 30/60/90, and cures
    assert types == simulation.counts


def test_simulation_memory_stays_flat_as_days_grow() -> None:
    """Three times the days (and events) past the 90-day windows: about the same peak memory.

    The peak is one day's batch plus the users' bounded state; it moves with the busiest day (the
    November sales season), so the bound is 1.5x: anything growing with the events would pass 2x.
    """

    def peak_bytes(days: int) -> tuple[int, int]:
        tracemalloc.start()
        events = sum(1 for _ in Simulation(users=50, days=days, seed=4, policy=default_policy()).lines())
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak, events

    (short, short_events), (long, long_events) = peak_bytes(120), peak_bytes(360)
    assert long_events > 2.5 * short_events
    assert long < short * 1.5, f"peak {short} bytes for 120 days, {long} for 360 days"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--users", "0"), b"--users"),
        (("--days", "-1"), b"--days"),
        (("--out", "x.jsonl", "--kafka"), b"exclude each other"),
        (("--policy", "/nonexistent.toml"), b"cannot read policy file"),
    ],
)
def test_simulate_refuses_bad_input(args: tuple[str, ...], words: bytes) -> None:
    result = cli("simulate", *args)
    assert result.returncode == 2
    assert words in result.stderr


# -- backtest --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def event_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("log") / "events.jsonl"
    lines = list(Simulation(users=250, days=150, seed=3, policy=default_policy()).lines())
    lines.insert(10, b"{broken")
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_backtest_reports_both_policies_and_every_difference(event_log: Path, tmp_path: Path) -> None:
    report = tmp_path / "report"
    # The log has 150 days: with a 60-day window, the decisions of its first 90 are mature.
    result = cli(
        "backtest", event_log, "--champion", DEFAULT_POLICY_PATH, "--challenger", STRICTER,
        "--report", report, "--outcome-window-days", "60",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads((report / "summary.json").read_text())
    champion, challenger = summary["champion"], summary["challenger"]
    assert champion["policy_version"] == default_policy().version
    assert challenger["policy_version"] == "2026.11-stricter"
    assert summary["invalid_lines"] == 1
    # Stricter in every way it was written: fewer approvals, less money out.
    assert challenger["overall"]["approval_rate"] < champion["overall"]["approval_rate"]
    assert float(challenger["overall"]["approved_amount"]) < float(champion["overall"]["approved_amount"])
    for side in (champion, challenger):
        assert set(side["by_product"]) == {"bnpl", "cash_loan", "installment_loan", "business_loan"}
        assert sum(g["decisions"] for g in side["by_score_band"].values()) == side["overall"]["decisions"]
        assert side["overall"]["bad_rate"] is not None and 0 <= side["overall"]["bad_rate"] <= 1
    differences = [orjson.loads(x) for x in (report / "differences.jsonl").read_bytes().splitlines()]
    assert len(differences) == summary["decisions_that_differ"] > 0
    assert all(d["champion"] != d["challenger"] for d in differences)
    assert {"reasons", "outcome"} <= set(differences[0]["champion"])
    page = (report / "report.html").read_text()
    # Three charts of the whole book, then two per scored model (bad rate by band, distributions).
    models = [m for m in ("consumer", "merchant") if m in summary["score_metrics"]]
    assert models[0] == "consumer" and page.count("<svg") == 3 + 2 * len(models)
    for title in ("Final score distribution", "Approval rate by score band", "Bad rate by score band"):
        assert title in page
    for model in models:
        assert f"{model}: bad rate by score band (mature)" in page
        assert f"{model}: score distribution at decision (mature)" in page
    consumer = summary["score_metrics"]["consumer"]
    for role in ("champion", "challenger"):
        figures = consumer[role]
        assert 0 < figures["mature"] <= figures["observations"]
        assert sum(row["count"] for row in figures["by_band"]) == figures["mature"]
        assert 0.5 < figures["auc"] <= 1  # the consumer score ranks goods above bads
        assert abs(figures["gini"] - (2 * figures["auc"] - 1)) < 0.0002 and 0 < figures["ks"] <= 1
        assert figures["psi_first_half_to_second"] is not None
    assert consumer["psi_champion_to_challenger"] is not None
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # self-contained
    assert b"decisions differ" in result.stdout


def test_backtest_on_a_local_dask_cluster_reports_exactly_what_one_process_reports(
    event_log: Path, tmp_path: Path
) -> None:
    reports = {}
    for jobs in ("1", "3"):
        report = tmp_path / f"report-{jobs}"
        result = cli(
            "backtest", event_log, "--champion", DEFAULT_POLICY_PATH, "--challenger", STRICTER,
            "--report", report, "--jobs", jobs, "--outcome-window-days", "60",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        summary = json.loads((report / "summary.json").read_text())
        del summary["seconds"]
        run = summary.pop("run", None)  # how it ran: one process has none, Dask its tasks' memory
        if jobs == "3":
            assert run is not None and run["engine"] == "dask" and run["workers"] == 3
            assert len(run["tasks"]) == 8 and all(task["task_peak_rss_mb"] > 0 for task in run["tasks"])
        reports[jobs] = (
            summary,
            (report / "differences.jsonl").read_bytes(),
            (report / "report.html").read_text(),
        )
    assert reports["1"] == reports["3"]
    summary, differences, _ = reports["1"]
    assert summary["decisions_that_differ"] > 0 and summary["invalid_lines"] == 1
    lines = [json.loads(line)["line"] for line in differences.splitlines()]
    assert lines == sorted(lines)  # in log order


def test_backtest_of_a_policy_against_itself_finds_no_difference(event_log: Path, tmp_path: Path) -> None:
    result = cli(
        "backtest", event_log, "--champion", DEFAULT_POLICY_PATH, "--challenger", DEFAULT_POLICY_PATH,
        "--report", tmp_path,
    )  # fmt: skip
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert result.returncode == 0 and summary["decisions_that_differ"] == 0
    assert summary["champion"]["overall"] == summary["challenger"]["overall"]
    # Same version on both sides: every chart still draws both series, one bar each per band.
    page = (tmp_path / "report.html").read_text()
    charts = page.split("<svg")[1:]
    models = [m for m in ("consumer", "merchant") if m in summary["score_metrics"]]
    assert len(charts) == 3 + 2 * len(models)
    assert summary["score_metrics"]["consumer"]["psi_champion_to_challenger"] == 0.0  # the same scores
    for chart in charts:
        version = default_policy().version
        assert f">champion {version}</text>" in chart and f">challenger {version}</text>" in chart
        assert chart.count("<title>champion ") == chart.count("<title>challenger ") > 0


@pytest.mark.parametrize("missing", ["events", "champion", "challenger"])
def test_backtest_refuses_missing_inputs(event_log: Path, tmp_path: Path, missing: str) -> None:
    paths = {"events": event_log, "champion": DEFAULT_POLICY_PATH, "challenger": STRICTER}
    paths[missing] = tmp_path / "missing"
    result = cli(
        "backtest", paths["events"], "--champion", paths["champion"], "--challenger", paths["challenger"],
        "--report", tmp_path / "r",
    )  # fmt: skip
    assert result.returncode == 2
    assert b"cannot read" in result.stderr


# -- policy inheritance ------------------------------------------------------------------------------


def test_a_policy_extends_the_default_and_changes_only_what_it_lists() -> None:
    stricter, default = load_policy(STRICTER), default_policy()
    assert stricter.products["cash_loan"].min_score == 600 != default.products["cash_loan"].min_score
    assert stricter.products["cash_loan"].terms == default.products["cash_loan"].terms
    assert stricter.score == default.score


def test_policy_inheritance_errors_are_clear(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('extends = "b.toml"\nversion = "a"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\nversion = "b"\n')
    with pytest.raises(PolicyError, match="makes a cycle"):
        load_policy(tmp_path / "a.toml")
    (tmp_path / "c.toml").write_text('extends = "nowhere.toml"\nversion = "c"\n')
    with pytest.raises(PolicyError, match=r"cannot read policy file .*nowhere\.toml"):
        load_policy(tmp_path / "c.toml")
    (tmp_path / "d.toml").write_text(
        'extends = "default"\nversion = "d"\n[rules]\nmax_applications_24h = -1\n'
    )
    with pytest.raises(PolicyError, match=r"d.toml: rules.max_applications_24h"):
        load_policy(tmp_path / "d.toml")


def test_a_policy_that_extends_another_must_name_its_own_version(tmp_path: Path) -> None:
    """Inheriting the base's version would make two different policies indistinguishable."""
    (tmp_path / "e.toml").write_text('extends = "default"\n[rules]\nmax_applications_24h = 1\n')
    with pytest.raises(PolicyError, match=r"e\.toml: extends 'default' but gives no version of its own"):
        load_policy(tmp_path / "e.toml")
    (tmp_path / "f.toml").write_text(
        'extends = "default"\nversion = "f-1"\n[rules]\nmax_applications_24h = 1\n'
    )
    assert load_policy(tmp_path / "f.toml").version == "f-1"


def test_overrides_without_a_version_report_a_version_of_their_own() -> None:
    changed = policy_with_overrides({"rules": {"max_applications_24h": 1}})
    other = policy_with_overrides({"rules": {"max_applications_24h": 2}})
    base = default_policy().version
    assert changed.version.startswith(base + "+") and other.version.startswith(base + "+")
    assert len({changed.version, other.version, base}) == 3
    assert policy_with_overrides({"rules": {"max_applications_24h": 1}}).version == changed.version


def test_activity_thins_everyday_purchases_and_sales_only() -> None:
    full = Simulation(users=200, days=30, seed=6, policy=default_policy())
    quiet = Simulation(users=200, days=30, seed=6, policy=default_policy(), activity=0.25)
    for simulation in (full, quiet):
        for _ in simulation.lines():
            pass
    everyday = ("purchase", "sale")
    assert sum(quiet.counts[t] for t in everyday) < 0.4 * sum(full.counts[t] for t in everyday)
    assert quiet.counts["account_opened"] == full.counts["account_opened"] == 200
    assert quiet.counts["application"] > 0.7 * full.counts["application"]


def test_the_bench_stamps_its_decisions_when_kafka_appends_them() -> None:
    """Latency ends when a reader can see the decision: the run's decision topic is stamped by the
    broker (as its input is), never by the worker's producer before it has sent the record."""
    decisions = _bench_topic(DECISIONS, "bench1.")
    assert decisions.name == "bench1." + DECISIONS.name
    assert decisions.config()["message.timestamp.type"] == "LogAppendTime"
    assert _bench_topic(EVENTS, "bench1.").config() == EVENTS.config()
