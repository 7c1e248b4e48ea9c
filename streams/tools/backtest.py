"""`creditstream backtest`: a champion and a challenger policy over the same event log.

Each policy runs the engine over the whole log with its own state (its own scores, limits and
balances). Outcomes come from the log: a user who reported 30+ days past due after an approval is
"bad" for that approval's groups. Reported overall, per product and per score band: decisions,
approval rate, approved amount, approved users and the share of them who later went 30+ days past
due; plus every decision on which the two policies differ (both reason lists).

The score is measured per model (consumer, merchant) as risk teams measure one
(streams.tools.score_metrics): every decision that carries a score is an observation, "bad" when
the user reported 30+ days past due within the outcome window after it (OUTCOME_WINDOW_DAYS unless
--outcome-window-days says otherwise). Observations whose window
runs past the log's last event are immature and left out of AUC, Gini, KS and the bad rate by band;
PSI compares score distributions (champion against challenger, and each policy's first half of
the log against its second) and takes every observation.

Caveat a risk team knows: the log's repayments and delinquencies happened under the policy that was
live when it was recorded; a user only the challenger approves has no outcome of that loan in it.
"""

from __future__ import annotations

import html
import json
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Protocol

import orjson

from schemas.codec import DecodeError, decode_event
from schemas.events import PRODUCTS, Delinquency
from schemas.money import fen_to_yuan
from schemas.outputs import Decision
from streams.engine import UserState, apply
from streams.engine.features import epoch_seconds
from streams.policy import Policy
from streams.tools.score_metrics import band_table, discrimination, odds_doubling, population_stability

__all__ = [
    "BANDS",
    "BacktestResult",
    "ByteSink",
    "band_of",
    "run_backtest",
    "run_backtest_numbered",
    "write_report",
]

BANDS: Final = (
    (350, "350-499"),
    (500, "500-549"),
    (550, "550-599"),
    (600, "600-649"),
    (650, "650-699"),
    (700, "700-749"),
    (750, "750-799"),
    (800, "800-849"),
    (850, "850-950"),
)
BAD_DAYS_PAST_DUE: Final = 30
OUTCOME_WINDOW_DAYS: Final = 180  # the performance window: bad within this long after the decision
SECONDS_PER_DAY: Final = 24 * 60 * 60
MODELS: Final = ("consumer", "merchant")


class ByteSink(Protocol):
    """Where differing decisions are written, one JSON line each (a file, or a shard's tagger)."""

    def write(self, data: bytes, /) -> int: ...


def band_of(score: int) -> str:
    return BANDS[max(0, bisect_right([low for low, _ in BANDS], score) - 1)][1]


@dataclass
class Group:
    decisions: int = 0
    approved: int = 0
    approved_fen: int = 0
    approved_users: set[str] = field(default_factory=set)
    bad_users: set[str] = field(default_factory=set)

    def add(self, decision: Decision, bad: bool) -> None:
        self.decisions += 1
        if decision.outcome != "declined":
            self.approved += 1
            self.approved_fen += decision.approved_amount
            self.approved_users.add(decision.user_id)
            if bad:
                self.bad_users.add(decision.user_id)

    def merge(self, other: Group) -> None:
        """Add another shard's group (its users are other users)."""
        self.decisions += other.decisions
        self.approved += other.approved
        self.approved_fen += other.approved_fen
        self.approved_users |= other.approved_users
        self.bad_users |= other.bad_users

    def summary(self) -> dict[str, Any]:
        return {
            "decisions": self.decisions,
            "approved": self.approved,
            "approval_rate": round(self.approved / self.decisions, 4) if self.decisions else None,
            "approved_amount": fen_to_yuan(self.approved_fen),
            "approved_users": len(self.approved_users),
            "bad_rate": round(len(self.bad_users) / len(self.approved_users), 4)
            if self.approved_users
            else None,
        }


@dataclass
class PolicyRun:
    policy: Policy
    states: dict[str, UserState] = field(default_factory=dict)
    overall: Group = field(default_factory=Group)
    products: dict[str, Group] = field(default_factory=lambda: {p: Group() for p in PRODUCTS})
    bands: dict[str, Group] = field(default_factory=lambda: {name: Group() for _, name in BANDS})
    users: int = 0  # counted at close()
    final_scores: Counter[str] = field(default_factory=Counter)
    final_merchant_scores: Counter[str] = field(default_factory=Counter)
    # Per model, each scored decision: (decided at, score, bad within OUTCOME_WINDOW_DAYS).
    observations: dict[str, list[tuple[int, int, bool]]] = field(
        default_factory=lambda: {model: [] for model in MODELS}
    )

    def record(self, decision: Decision, bad: bool, at: int, bad_in_window: bool) -> None:
        self.overall.add(decision, bad)
        self.products[decision.product].add(decision, bad)
        if decision.score is not None:  # None: the user has no score from the product's model
            self.bands[band_of(decision.score)].add(decision, bad)
            self.observations[decision.score_model].append((at, decision.score, bad_in_window))

    def close(self) -> None:
        """Take the final score distributions and let the states go (they are large)."""
        self.users += len(self.states)
        self.final_scores.update(band_of(state.score) for state in self.states.values())
        self.final_merchant_scores.update(
            band_of(state.merchant_score) for state in self.states.values() if state.merchant_points
        )
        self.states = {}

    def merge(self, other: PolicyRun) -> None:
        """Add another shard's run of the same policy (over other users)."""
        self.overall.merge(other.overall)
        for name, group in other.products.items():
            self.products[name].merge(group)
        for name, group in other.bands.items():
            self.bands[name].merge(group)
        self.users += other.users
        for model, observed in other.observations.items():
            self.observations[model] += observed
        self.final_scores.update(other.final_scores)
        self.final_merchant_scores.update(other.final_merchant_scores)

    def summary(self) -> dict[str, Any]:
        return {
            "policy_version": self.policy.version,
            "overall": self.overall.summary(),
            "by_product": {name: group.summary() for name, group in self.products.items()},
            "by_score_band": {name: group.summary() for name, group in self.bands.items()},
            "final_score_distribution": {name: self.final_scores.get(name, 0) for _, name in BANDS},
            # Merchants scored by a merchant model (business_loan), at the end of the log.
            "final_merchant_score_distribution": {
                name: self.final_merchant_scores.get(name, 0) for _, name in BANDS
            },
        }


@dataclass
class BacktestResult:
    champion: PolicyRun
    challenger: PolicyRun
    events: int = 0
    invalid_lines: int = 0
    differences: int = 0
    difference_examples: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    last_event_at: int = 0  # epoch seconds of the log's latest event: what is mature is judged by it
    window_days: int = OUTCOME_WINDOW_DAYS
    # How it ran, beside "seconds" (not figures of the policies): tasks, peak memory per task.
    run: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "invalid_lines": self.invalid_lines,
            "users": self.champion.users,
            "decisions_that_differ": self.differences,
            "champion": self.champion.summary(),
            "challenger": self.challenger.summary(),
            "score_metrics": self.score_metrics(),
            "seconds": round(self.seconds, 2),
            **({"run": self.run} if self.run else {}),
        }

    def score_metrics(self) -> dict[str, Any]:
        """Per model: each policy's discrimination, bad rate by band and odds fit, and PSI."""
        mature_before = self.last_event_at - self.window_days * SECONDS_PER_DAY
        found: dict[str, Any] = {
            "outcome": (
                f"{BAD_DAYS_PAST_DUE}+ days past due within {self.window_days} days after the decision"
            ),
            "mature_decisions": f"decided at least {self.window_days} days before the log's last event",
        }
        for model in MODELS:
            # Sorted: the same figures whatever order shards were merged in.
            runs = {role: sorted(run.observations[model]) for role, run in self._roles()}
            if not any(runs.values()):
                continue
            top = _model_maximum(self.champion.policy, model)
            per_role: dict[str, Any] = {}
            for role, observed in runs.items():
                mature = [(score, bad) for at, score, bad in observed if at <= mature_before]
                scores, bads = [s for s, _ in mature], [b for _, b in mature]
                table = band_table(scores, bads, BANDS)
                half = len(observed) // 2
                per_role[role] = {
                    "observations": len(observed),
                    "mature": len(mature),
                    "bads": sum(bads),
                    **discrimination(scores, bads),
                    "by_band": table,
                    "odds_fit": odds_doubling(table, BANDS, top),
                    "psi_first_half_to_second": population_stability(
                        [s for _, s, _ in observed[:half]], [s for _, s, _ in observed[half:]], BANDS
                    ),
                }
            per_role["psi_champion_to_challenger"] = population_stability(
                [s for _, s, _ in runs["champion"]], [s for _, s, _ in runs["challenger"]], BANDS
            )
            found[model] = per_role
        return found

    def _roles(self) -> list[tuple[str, PolicyRun]]:
        return [("champion", self.champion), ("challenger", self.challenger)]


def _model_maximum(policy: Policy, model: str) -> int:
    card = policy.score if model == "consumer" else policy.merchant_score
    return card.maximum if card is not None else 950


def run_backtest(
    lines: Callable[[], Iterable[bytes]],
    champion: Policy,
    challenger: Policy,
    differences_out: ByteSink | None = None,
    on_line: Callable[[int], None] | None = None,
    examples: int = 200,
    window_days: int = OUTCOME_WINDOW_DAYS,
) -> BacktestResult:
    """Two passes over ``lines()``: the outcomes (30+ days past due), then both policies."""
    return run_backtest_numbered(
        lambda: enumerate(lines(), start=1),
        champion,
        challenger,
        differences_out,
        on_line,
        examples,
        window_days,
    )


def run_backtest_numbered(
    lines: Callable[[], Iterable[tuple[int, bytes]]],
    champion: Policy,
    challenger: Policy,
    differences_out: ByteSink | None = None,
    on_line: Callable[[int], None] | None = None,
    examples: int = 200,
    window_days: int = OUTCOME_WINDOW_DAYS,
) -> BacktestResult:
    """As ``run_backtest``, over lines that carry their own line numbers (one partition of a log):
    differences name the line numbers of the whole log."""
    began = time.perf_counter()
    bad_times = _bad_times(line for _, line in lines())
    result = BacktestResult(PolicyRun(champion), PolicyRun(challenger), window_days=window_days)
    window = window_days * SECONDS_PER_DAY
    for number, line in lines():
        if on_line is not None:
            on_line(number)
        event = decode_event(line.rstrip(b"\r\n"))
        if isinstance(event, DecodeError):
            result.invalid_lines += 1
            continue
        result.events += 1
        result.last_event_at = max(result.last_event_at, epoch_seconds(event.occurred_at))
        decided: list[Decision | None] = []
        for run in (result.champion, result.challenger):
            applied = apply(run.states.get(event.user_id), event, run.policy, owned=True)
            run.states[event.user_id] = applied.state
            decision = next((o for o in applied.outputs if isinstance(o, Decision)), None)
            if decision is not None and not applied.duplicate:
                times = bad_times.get(decision.user_id, [])
                at = epoch_seconds(decision.decided_at)
                after = bisect_right(times, at)  # the first 30+ days past due after the decision
                in_window = after < len(times) and times[after] <= at + window
                run.record(decision, bad=after < len(times), at=at, bad_in_window=in_window)
            decided.append(None if applied.duplicate else decision)
        first, second = decided
        if first is not None and second is not None and _differs(first, second):
            result.differences += 1
            difference = _difference(first, second, number)
            if len(result.difference_examples) < examples:
                result.difference_examples.append(difference)
            if differences_out is not None:
                differences_out.write(orjson.dumps(difference) + b"\n")
    result.champion.close()
    result.challenger.close()
    result.seconds = time.perf_counter() - began
    return result


def _bad_times(lines: Iterable[bytes]) -> dict[str, list[int]]:
    """Per user, the sorted event times of delinquency reports at 30+ days past due."""
    times: dict[str, list[int]] = {}
    for line in lines:
        if b"delinquency" not in line:
            continue
        event = decode_event(line.rstrip(b"\r\n"))
        if isinstance(event, Delinquency) and event.days_past_due >= BAD_DAYS_PAST_DUE:
            times.setdefault(event.user_id, []).append(epoch_seconds(event.occurred_at))
    for user_times in times.values():
        user_times.sort()
    return times


def _differs(a: Decision, b: Decision) -> bool:
    return (a.outcome, a.approved_amount, a.apr, a.reasons) != (
        b.outcome,
        b.approved_amount,
        b.apr,
        b.reasons,
    )


def _difference(a: Decision, b: Decision, line: int) -> dict[str, Any]:
    def side(d: Decision) -> dict[str, Any]:
        return {
            "outcome": d.outcome,
            "approved_amount": fen_to_yuan(d.approved_amount),
            "apr": d.apr,
            "score": d.score,
            "limit": fen_to_yuan(d.limit),
            "reasons": [str(r) for r in d.reasons],
        }

    return {
        "line": line,
        "request_event_id": a.request_event_id,
        "user_id": a.user_id,
        "product": a.product,
        "requested_amount": fen_to_yuan(a.requested_amount),
        "decided_at": a.decided_at.isoformat(),
        "champion": side(a),
        "challenger": side(b),
    }


# -- the report --------------------------------------------------------------------------------------


def write_report(result: BacktestResult, directory: Path) -> tuple[Path, Path]:
    """report.html (self-contained: inline SVG charts) and summary.json; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    summary = result.summary()
    summary_path = directory / "summary.json"
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    html_path = directory / "report.html"
    html_path.write_text(_html(result, summary))
    return html_path, summary_path


def _html(result: BacktestResult, summary: dict[str, Any]) -> str:
    champion, challenger = summary["champion"], summary["challenger"]
    names = [name for _, name in BANDS]
    a, b = champion["policy_version"], challenger["policy_version"]
    # Series are keyed by role, not version: two policies may share a version (a policy against
    # itself, or two files that forgot to change it), and one series must never hide the other.
    label_a, label_b = f"champion {a}", f"challenger {b}"

    def series(section: str, key: str) -> dict[str, list[float]]:
        return {
            label_a: [champion[section][n][key] or 0 for n in names],
            label_b: [challenger[section][n][key] or 0 for n in names],
        }

    charts = [
        _bar_chart(
            "Final score distribution (users)",
            names,
            {
                label_a: list(champion["final_score_distribution"].values()),
                label_b: list(challenger["final_score_distribution"].values()),
            },
            percent=False,
        ),
        _bar_chart(
            "Approval rate by score band", names, series("by_score_band", "approval_rate"), percent=True
        ),
        _bar_chart(
            "Bad rate by score band (later 30+ days past due)",
            names,
            series("by_score_band", "bad_rate"),
            percent=True,
        ),
    ]
    model_sections = "".join(
        _model_section(model, figures, label_a, label_b)
        for model, figures in summary["score_metrics"].items()
        if model in MODELS
    )
    rows = [("overall", champion["overall"], challenger["overall"])]
    rows += [(f"product {p}", champion["by_product"][p], challenger["by_product"][p]) for p in PRODUCTS]
    rows += [(f"band {n}", champion["by_score_band"][n], challenger["by_score_band"][n]) for n in names]
    table = "".join(f"<tr><th>{html.escape(label)}</th>{_cells(x)}{_cells(y)}</tr>" for label, x, y in rows)
    examples = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (d["request_event_id"], d["user_id"], d["product"], d["requested_amount"])
        )
        + _side(d["champion"])
        + _side(d["challenger"])
        + "</tr>"
        for d in result.difference_examples
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>creditstream backtest: {html.escape(a)} vs {html.escape(b)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right;font-size:13px}} th{{background:#f4f4f4}}
.charts{{display:flex;flex-wrap:wrap;gap:1.5em}} h1{{font-size:1.5em}}
</style></head><body>
<h1>Backtest: champion <code>{html.escape(a)}</code> vs challenger <code>{html.escape(b)}</code></h1>
<p>{summary["events"]:,} events, {summary["users"]:,} users, {summary["invalid_lines"]} invalid lines;
{summary["decisions_that_differ"]:,} decisions differ.
Bad: an approved user who later reported 30+ days past due in the log
(outcomes come from the log, recorded under the policy live at the time).</p>
<div class="charts">{"".join(charts)}</div>
<h2>The score, measured per model</h2>
<p>Observations: every decision that carries the model's score. Bad:
{html.escape(summary["score_metrics"]["outcome"])}; AUC, Gini, KS and bad rate by band count the decisions
{html.escape(summary["score_metrics"]["mature_decisions"])}. PSI under 0.1 is stable, 0.1 to 0.25 a shift
to look at, above 0.25 a population that moved.</p>
{model_sections}
<h2>Figures</h2>
<table><tr><th rowspan="2"></th><th colspan="6">champion {html.escape(a)}</th>
<th colspan="6">challenger {html.escape(b)}</th></tr>
<tr>{_header()}{_header()}</tr>{table}</table>
<h2>Decisions that differ (first {len(result.difference_examples)} of {result.differences:,})</h2>
<table><tr><th>request</th><th>user</th><th>product</th><th>requested</th>
<th>champion</th><th>amount</th><th>reasons</th><th>challenger</th><th>amount</th><th>reasons</th></tr>{examples}</table>
</body></html>
"""


_METRIC_ROWS: Final = (
    ("observations", "observations"),
    ("mature", "mature observations"),
    ("bads", "bads (mature)"),
    ("auc", "AUC"),
    ("gini", "Gini"),
    ("ks", "KS"),
    ("psi_first_half_to_second", "PSI, first half of the log to second"),
)


def _model_section(model: str, figures: dict[str, Any], label_a: str, label_b: str) -> str:
    """One model's metrics table and its two charts: bad rate by band, and the score distributions."""
    champion, challenger = figures["champion"], figures["challenger"]
    names = [name for _, name in BANDS]

    def shares(role: dict[str, Any]) -> list[float]:
        total = sum(row["count"] for row in role["by_band"]) or 1
        return [row["count"] / total for row in role["by_band"]]

    def show(value: Any) -> str:
        return "–" if value is None else (f"{value:,}" if isinstance(value, int) else str(value))

    rows = [(label, show(champion[key]), show(challenger[key])) for key, label in _METRIC_ROWS]
    rows.append(
        (
            "points that double the odds (fit, r2)",
            f"{show(champion['odds_fit']['points_to_double_odds'])} ({show(champion['odds_fit']['r2'])})",
            f"{show(challenger['odds_fit']['points_to_double_odds'])} ({show(challenger['odds_fit']['r2'])})",
        )
    )
    rows.append(("PSI, champion to challenger", show(figures["psi_champion_to_challenger"]), ""))
    bands = "".join(
        f"<tr><th>{html.escape(a['band'])}</th>"
        + "".join(
            f"<td>{html.escape(show(row[k]))}</td>" for row in (a, b) for k in ("count", "bad_rate", "odds")
        )
        + "</tr>"
        for a, b in zip(champion["by_band"], challenger["by_band"], strict=True)
    )
    charts = [
        _bar_chart(
            f"{model}: bad rate by score band (mature)",
            names,
            {
                label_a: [r["bad_rate"] or 0 for r in champion["by_band"]],
                label_b: [r["bad_rate"] or 0 for r in challenger["by_band"]],
            },
            percent=True,
        ),
        _bar_chart(
            f"{model}: score distribution at decision (mature)",
            names,
            {label_a: shares(champion), label_b: shares(challenger)},
            percent=True,
        ),
    ]
    table = "".join(f"<tr><th>{html.escape(label)}</th><td>{x}</td><td>{y}</td></tr>" for label, x, y in rows)
    a, b = html.escape(label_a), html.escape(label_b)
    columns = "<th>volume</th><th>bad rate</th><th>odds</th>" * 2
    return f"""<h3>{html.escape(model)} model</h3>
<div class="charts">{"".join(charts)}</div>
<table><tr><th></th><th>{a}</th><th>{b}</th></tr>{table}</table>
<table><tr><th rowspan="2">band</th><th colspan="3">{a}</th><th colspan="3">{b}</th></tr>
<tr>{columns}</tr>{bands}</table>
"""


_COLUMNS: Final = ("decisions", "approved", "approval_rate", "approved_amount", "approved_users", "bad_rate")


def _header() -> str:
    return "".join(f"<th>{c.replace('_', ' ')}</th>" for c in _COLUMNS)


def _cells(group: dict[str, Any]) -> str:
    def show(key: str) -> str:
        value = group[key]
        if value is None:
            return "–"
        if key.endswith("rate"):
            return f"{value:.1%}"
        if key == "approved_amount":  # exact yuan text, grouped for reading
            return f"{Decimal(value):,.2f}"
        return f"{value:,}" if isinstance(value, int) else str(value)

    return "".join(f"<td>{html.escape(show(c))}</td>" for c in _COLUMNS)


def _side(side: dict[str, Any]) -> str:
    return "".join(
        f"<td>{html.escape(str(v))}</td>"
        for v in (side["outcome"], side["approved_amount"], " ".join(side["reasons"]))
    )


def _bar_chart(title: str, categories: list[str], series: dict[str, list[float]], percent: bool) -> str:
    """A grouped bar chart as inline SVG (no plotting library, no network)."""
    width, height, left, bottom, top = 520, 260, 48, 40, 28
    colours = ("#4a78b5", "#e08a2e")
    peak = max([v for values in series.values() for v in values] + [1e-9])
    plot_w, plot_h = width - left - 10, height - bottom - top
    slot = plot_w / len(categories)
    bar = slot * 0.8 / len(series)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
        f'<text x="{left}" y="18" font-size="13" font-weight="bold">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" stroke="#888"/>',
    ]
    for tick in range(5):
        value = peak * tick / 4
        y = top + plot_h - plot_h * tick / 4
        label = f"{value:.0%}" if percent else f"{value:,.0f}"
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{label}</text>')
    for index, category in enumerate(categories):
        x0 = left + index * slot + slot * 0.1
        for s, (name, values) in enumerate(series.items()):
            h = plot_h * values[index] / peak
            shown = f"{values[index]:.1%}" if percent else f"{values[index]:,.0f}"
            parts.append(
                f'<rect x="{x0 + s * bar:.1f}" y="{top + plot_h - h:.1f}" width="{bar - 1:.1f}" '
                f'height="{h:.1f}" fill="{colours[s % 2]}"><title>{html.escape(name)} {category}: '
                f"{shown}</title></rect>"
            )
        parts.append(
            f'<text x="{left + index * slot + slot / 2:.1f}" y="{top + plot_h + 14}" font-size="9" '
            f'text-anchor="middle">{category}</text>'
        )
    for s, name in enumerate(series):
        parts.append(
            f'<rect x="{left + s * 200}" y="{height - 14}" width="10" height="10" fill="{colours[s % 2]}"/>'
            f'<text x="{left + s * 200 + 14}" y="{height - 5}" font-size="11">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
