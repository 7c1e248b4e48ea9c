"""Behaviour features over event time: windows as day buckets, velocity, repayment history.

Time is the event's: ``clock`` is the latest occurred_at the user has shown, and days are counted in
the policy's time zone. Nothing here reads the wall clock.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Final

from streams.engine.state import UserState
from streams.policy import Policy

__all__ = [
    "SECONDS_PER_DAY",
    "add_to_window",
    "compute_features",
    "epoch_seconds",
    "local_date",
    "local_day",
    "prune",
    "window_sum",
]

SECONDS_PER_DAY: Final = 86_400


def epoch_seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def local_day(seconds: int, policy: Policy) -> int:
    """Day number (days since 1970-01-01) in the policy's time zone."""
    return (seconds + policy.timezone_offset_minutes * 60) // SECONDS_PER_DAY


def local_date(seconds: int, policy: Policy) -> date:
    return date.fromordinal(date(1970, 1, 1).toordinal() + local_day(seconds, policy))


def add_to_window(window: dict[int, int], day: int, amount: int) -> None:
    window[day] = window.get(day, 0) + amount


def window_sum(window: dict[int, int], today: int, days: int) -> int:
    """Total over the ``days`` days ending today (today included)."""
    first = today - days + 1
    return sum(amount for day, amount in window.items() if day >= first)


def prune(state: UserState, policy: Policy) -> None:
    """Drop what has aged out of every window, so state stays bounded."""
    today = local_day(state.clock, policy)
    first_kept = today - max(policy.windows.long_days, policy.windows.short_days) + 1
    for window in (state.spend, state.refunds, state.sales):
        for day in [d for d in window if d < first_kept]:
            del window[day]
    late_first = today - policy.windows.late_history_days + 1
    state.late_repayment_days = [d for d in state.late_repayment_days if d >= late_first]
    oldest_application = state.clock - policy.windows.velocity_days * SECONDS_PER_DAY
    state.applications = [t for t in state.applications if t > oldest_application]
    purchase_first = today - policy.memory.purchase_days + 1
    for event_id in [k for k, p in state.purchases.items() if p[3] < purchase_first]:
        del state.purchases[event_id]


def compute_features(state: UserState, policy: Policy) -> dict[str, float]:
    """The scorecard's inputs, by the names the policy's factors use."""
    today = local_day(state.clock, policy)
    long_days = policy.windows.long_days
    spend = window_sum(state.spend, today, long_days)
    refunds = window_sum(state.refunds, today, long_days)
    total_limit = sum(state.limits)
    worst_recent = state.worst_dpd if today - state.worst_dpd_day < policy.windows.late_history_days else 0
    return {
        "days_past_due": max(state.days_past_due),
        "worst_days_past_due_365d": max(worst_recent, *state.days_past_due),
        "late_repayments_365d": len(state.late_repayment_days),
        "on_time_repayments": state.on_time_repayments,
        "utilisation_pct": (100 * sum(state.outstanding) / total_limit) if total_limit else 0,
        "applications_7d": len(state.applications),
        "refund_ratio_pct_90d": (100 * refunds / spend) if spend else 0,
        "monthly_income": (state.monthly_income or 0) / 100,
        "tenure_days": max(0, state.clock - state.opened_at) // SECONDS_PER_DAY,
        "spend_90d": spend / 100,
        "sales_90d": window_sum(state.sales, today, long_days) / 100,
    }
