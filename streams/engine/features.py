"""Behaviour features over event time: windows as day buckets, velocity, repayment history.

Time is the event's: ``clock`` is the latest occurred_at the user has shown, and days are counted in
the policy's time zone. Nothing here reads the wall clock. Windows hold only the days of the long
window (``prune`` runs when the clock's day moves), so a window's total is the sum of its buckets.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Final

from streams.engine.state import PURCHASE_DAY, UserState
from streams.engine.view import PolicyView, policy_view
from streams.policy import FEATURES, Policy

__all__ = [
    "SECONDS_PER_DAY",
    "add_to_window",
    "any_nonzero",
    "compute_features",
    "day_in",
    "epoch_seconds",
    "local_date",
    "local_day",
    "prune",
    "prune_applications",
    "window_total",
]

SECONDS_PER_DAY: Final = 86_400
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()


def epoch_seconds(moment: datetime) -> int:
    """``int(moment.timestamp())`` for an aware datetime, from its fields: ``timestamp`` builds two
    timedeltas and a float, and this runs per event (tests/unit/engine/test_state.py compares)."""
    offset = moment.utcoffset()
    if offset is None:
        return int(moment.timestamp())  # naive: local time, as timestamp() reads it
    whole = (
        (moment.toordinal() - _EPOCH_ORDINAL) * SECONDS_PER_DAY
        + moment.hour * 3600
        + moment.minute * 60
        + moment.second
        - offset.days * SECONDS_PER_DAY
        - offset.seconds
    )
    micros = whole * 1_000_000 + moment.microsecond - offset.microseconds
    seconds, fraction = divmod(micros, 1_000_000)
    return seconds + 1 if seconds < 0 and fraction else seconds  # int() truncates toward zero


def local_day(seconds: int, policy: Policy) -> int:
    """Day number (days since 1970-01-01) in the policy's time zone."""
    return day_in(seconds, policy_view(policy))


def day_in(seconds: int, view: PolicyView) -> int:
    """``local_day`` for the engine, which holds the policy's view already."""
    return (seconds + view.timezone_offset_seconds) // SECONDS_PER_DAY


def local_date(seconds: int, policy: Policy) -> date:
    return date.fromordinal(_EPOCH_ORDINAL + local_day(seconds, policy))


def add_to_window(
    state: UserState, window: dict[int, int], day: int, amount: int, policy: Policy
) -> dict[int, int]:
    """The window with an amount added to its day's bucket: a new dict, for a state's windows are
    shared with the state it was copied from (UserState.copy). An amount from a day already
    outside the window is not counted (the window itself is returned)."""
    view = policy_view(policy)
    if day <= day_in(state.clock, view) - view.long_days:
        return window
    added = dict(window)
    added[day] = window.get(day, 0) + amount
    return added


def prune_applications(state: UserState, policy: Policy) -> None:
    """Drop applications and bnpl purchases older than the velocity window (both kept sorted)."""
    oldest_kept = state.clock - policy_view(policy).velocity_days * SECONDS_PER_DAY
    if state.applications and state.applications[0] <= oldest_kept:
        state.applications = [t for t in state.applications if t > oldest_kept]
    if state.bnpl_purchases and state.bnpl_purchases[0] <= oldest_kept:
        state.bnpl_purchases = [t for t in state.bnpl_purchases if t > oldest_kept]


def prune(state: UserState, policy: Policy) -> None:
    """Drop what has aged out of the day windows; run when the clock's day moves."""
    view = policy_view(policy)
    today = day_in(state.clock, view)
    first_kept = today - view.long_days + 1
    state.spend = _pruned(state.spend, first_kept)
    state.refunds = _pruned(state.refunds, first_kept)
    state.sales = _pruned(state.sales, first_kept)
    state.shop_refunds = _pruned(state.shop_refunds, first_kept)
    late_first = today - view.late_history_days + 1
    if state.late_repayments and state.late_repayments[0][0] < late_first:
        state.late_repayments = [late for late in state.late_repayments if late[0] >= late_first]
    if any(peaks and peaks[0][0] < late_first for peaks in state.delinquency_peaks):
        # Shared with the state this one was copied from: replaced, never changed in place.
        state.delinquency_peaks = [
            [peak for peak in peaks if peak[0] >= late_first] for peaks in state.delinquency_peaks
        ]
    purchase_first = today - view.purchase_days + 1
    purchases = state.purchases
    if any(p[PURCHASE_DAY] < purchase_first for p in purchases.values()):
        state.purchases = {k: p for k, p in purchases.items() if p[PURCHASE_DAY] >= purchase_first}


def _pruned(window: dict[int, int], first_kept: int) -> dict[int, int]:
    """The window without the days before ``first_kept``: itself when none are (it may be shared
    with an earlier state, so it is never changed in place)."""
    if all(day >= first_kept for day in window):
        return window
    return {day: amount for day, amount in window.items() if day >= first_kept}


def _utilisation_pct(outstanding: int, total_limit: int) -> float | None:
    return 100 * outstanding / total_limit if total_limit else None


def sales_stability_pct(sales: dict[int, int], today: int, long_days: int) -> float:
    """The weakest third of the sales window against the strongest, percent (100: even sales; 0: a
    third with none). A shop that sells every month is steadier than one burst of sales."""
    third = max(1, long_days // 3)
    # Three locals, not a list of three: compiled, they stay native integers.
    newest = middle = oldest = 0
    for day, amount in sales.items():
        age = today - day
        if 0 <= age < third:
            newest += amount
        elif third <= age < 2 * third:
            middle += amount
        elif 2 * third <= age < 3 * third:
            oldest += amount
    strongest = max(max(newest, middle), oldest)  # two arguments each: compiled natively
    return 100 * min(min(newest, middle), oldest) / strongest if strongest else 0


def compute_features(
    state: UserState,
    policy: Policy,
    sales: int,
    products: tuple[int, ...],
    needed: frozenset[str] | None = None,
) -> dict[str, float | None]:
    """A scorecard's inputs, by the names the policy's factors use (``sales``: 90-day sales, fen).

    The repayment record (past due, late, on time) is that of ``products``, the indices of the
    products the model scores: a merchant's business loan record is its own. ``needed``: the
    features the card reads (None: all); the others are not computed, as this runs per event.

    None means the feature does not apply (it scores no points): utilisation with no line at all
    (a closed or defaulted account). It must not read 0%, the best band; nor the worst band, which
    would keep a cured user's limits at 0 for as long as anything is owed.
    """
    wanted = FEATURE_NAMES if needed is None else needed
    features: dict[str, float | None] = {}
    view = policy_view(policy)
    today = day_in(state.clock, view)
    dpd = _worst_of(state.days_past_due, products)
    if "days_past_due" in wanted:
        features["days_past_due"] = dpd
    if "worst_days_past_due_in_late_history" in wanted:
        features["worst_days_past_due_in_late_history"] = max(
            _worst_recent(state.delinquency_peaks, products, today - view.late_history_days), dpd
        )
    if "late_repayments_in_late_history" in wanted:
        features["late_repayments_in_late_history"] = _late_on(state.late_repayments, products)
    if "on_time_repayments" in wanted:
        features["on_time_repayments"] = _total_of(state.on_time, products)
    if "utilisation_pct" in wanted:
        features["utilisation_pct"] = _utilisation_pct(sum(state.outstanding), sum(state.limits))
    if "applications_in_velocity_window" in wanted:
        features["applications_in_velocity_window"] = len(state.applications)
    if "bnpl_purchases_in_velocity_window" in wanted:
        features["bnpl_purchases_in_velocity_window"] = len(state.bnpl_purchases)
    if "refund_ratio_pct_in_long_window" in wanted or "spend_in_long_window" in wanted:
        spend = window_total(state.spend)
        refunds = window_total(state.refunds)
        features["refund_ratio_pct_in_long_window"] = (100 * refunds / spend) if spend else 0
        features["spend_in_long_window"] = spend / 100
    if "monthly_income" in wanted:
        features["monthly_income"] = (state.monthly_income or 0) / 100
    if "tenure_days" in wanted:
        features["tenure_days"] = max(0, state.clock - state.opened_at) // SECONDS_PER_DAY
    if "sales_in_long_window" in wanted:
        features["sales_in_long_window"] = sales / 100
    if "sales_stability_pct" in wanted:
        features["sales_stability_pct"] = sales_stability_pct(state.sales, today, view.long_days)
    if "shop_refund_ratio_pct_in_long_window" in wanted:
        shop_refunds = window_total(state.shop_refunds)
        features["shop_refund_ratio_pct_in_long_window"] = (100 * shop_refunds / sales) if sales else 0
    return features


# The reductions below are loops rather than sum() or max() of a generator: compiled, a loop is
# native integer arithmetic, where a generator is an object the builtin iterates through Python's
# iterator protocol (about 8,000 instructions an event of compute_features, callgrind).


def window_total(window: dict[int, int]) -> int:
    """A day-bucket window's total (fen)."""
    total = 0
    for amount in window.values():
        total += amount
    return total


def any_nonzero(values: list[int]) -> bool:
    """``any(values)``, which compiled is a call of the builtin (about 550 instructions)."""
    for value in values:
        if value:
            return True
    return False


def _worst_of(values: list[int], indices: tuple[int, ...]) -> int:
    """``max((values[i] for i in indices), default=0)``."""
    if not indices:
        return 0
    worst = values[indices[0]]
    for index in indices:
        worst = max(worst, values[index])
    return worst


def _total_of(values: list[int], indices: tuple[int, ...]) -> int:
    total = 0
    for index in indices:
        total += values[index]
    return total


def _late_on(late_repayments: list[list[int]], products: tuple[int, ...]) -> int:
    """How many of the late repayments ([day, product index]) were on ``products``."""
    count = 0
    for _, product in late_repayments:
        if product in products:
            count += 1
    return count


def _worst_recent(peaks_by_product: list[list[list[int]]], products: tuple[int, ...], too_old: int) -> int:
    """The worst days past due reported after day ``too_old`` on ``products`` (peaks run oldest and
    worst first, so the first recent one per product is its worst)."""
    worst = 0
    for index in products:
        for day, days_past_due in peaks_by_product[index]:
            if day > too_old:
                worst = max(worst, days_past_due)
                break
    return worst


FEATURE_NAMES: Final = frozenset(FEATURES)
