"""Behaviour features over event time: windows as day buckets, velocity, repayment history.

Time is the event's: ``clock`` is the latest occurred_at the user has shown, and days are counted in
the policy's time zone. Nothing here reads the wall clock. Windows hold only the days of the long
window (``prune`` runs when the clock's day moves), so a window's total is the sum of its buckets.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Final

from streams.engine.state import UserState, purchase_day
from streams.engine.view import PolicyView, policy_view
from streams.policy import FEATURES, Policy

__all__ = [
    "SECONDS_PER_DAY",
    "add_to_window",
    "any_nonzero",
    "compute_features",
    "day_in",
    "epoch_seconds",
    "feature_values",
    "local_date",
    "local_day",
    "prune",
    "prune_applications",
    "window_total",
]

SECONDS_PER_DAY: Final = 86_400
# Each feature's position in FEATURES, where ``feature_values`` puts it.
N_FEATURES: Final = len(FEATURES)
DAYS_PAST_DUE: Final = FEATURES.index("days_past_due")
WORST_DAYS_PAST_DUE: Final = FEATURES.index("worst_days_past_due_in_late_history")
LATE_REPAYMENTS: Final = FEATURES.index("late_repayments_in_late_history")
ON_TIME_REPAYMENTS: Final = FEATURES.index("on_time_repayments")
UTILISATION: Final = FEATURES.index("utilisation_pct")
APPLICATIONS: Final = FEATURES.index("applications_in_velocity_window")
REFUND_RATIO: Final = FEATURES.index("refund_ratio_pct_in_long_window")
MONTHLY_INCOME: Final = FEATURES.index("monthly_income")
TENURE: Final = FEATURES.index("tenure_days")
SPEND: Final = FEATURES.index("spend_in_long_window")
SALES: Final = FEATURES.index("sales_in_long_window")
BNPL_PURCHASES: Final = FEATURES.index("bnpl_purchases_in_velocity_window")
SALES_STABILITY: Final = FEATURES.index("sales_stability_pct")
SHOP_REFUND_RATIO: Final = FEATURES.index("shop_refund_ratio_pct_in_long_window")
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
    if any(purchase_day(p) < purchase_first for p in purchases.values()):
        state.purchases = {k: p for k, p in purchases.items() if purchase_day(p) >= purchase_first}


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
    """A scorecard's inputs, by the names the policy's factors use (``sales``: 90-day sales, fen):
    ``feature_values`` by name, the ``needed`` ones only (None: all)."""
    wanted = FEATURE_NAMES if needed is None else needed
    needs = tuple([name in wanted for name in FEATURES])
    values = feature_values(state, policy, sales, products, needs)
    return {name: values[index] for index, name in enumerate(FEATURES) if needs[index]}


def feature_values(
    state: UserState, policy: Policy, sales: int, products: tuple[int, ...], needs: tuple[bool, ...]
) -> list[float | None]:
    """A scorecard's inputs by position in FEATURES (``sales``: 90-day sales, fen).

    The repayment record (past due, late, on time) is that of ``products``, the indices of the
    products the model scores: a merchant's business loan record is its own. ``needs`` says, per
    position, whether the card reads the feature; the others are not computed (left None), as this
    runs per event. By position rather than by name: compiled, a list is written and read
    natively, where a dict by name cost about 7% of replay's instructions.

    None means the feature does not apply (it scores no points): utilisation with no line at all
    (a closed or defaulted account). It must not read 0%, the best band; nor the worst band, which
    would keep a cured user's limits at 0 for as long as anything is owed.
    """
    values: list[float | None] = [None] * N_FEATURES
    view = policy_view(policy)
    today = day_in(state.clock, view)
    dpd = _worst_of(state.days_past_due, products)
    if needs[DAYS_PAST_DUE]:
        values[DAYS_PAST_DUE] = dpd
    if needs[WORST_DAYS_PAST_DUE]:
        values[WORST_DAYS_PAST_DUE] = max(
            _worst_recent(state.delinquency_peaks, products, today - view.late_history_days), dpd
        )
    if needs[LATE_REPAYMENTS]:
        values[LATE_REPAYMENTS] = _late_on(state.late_repayments, products)
    if needs[ON_TIME_REPAYMENTS]:
        values[ON_TIME_REPAYMENTS] = _total_of(state.on_time, products)
    if needs[UTILISATION]:
        values[UTILISATION] = _utilisation_pct(sum(state.outstanding), sum(state.limits))
    if needs[APPLICATIONS]:
        values[APPLICATIONS] = len(state.applications)
    if needs[BNPL_PURCHASES]:
        values[BNPL_PURCHASES] = len(state.bnpl_purchases)
    if needs[REFUND_RATIO] or needs[SPEND]:
        spend = window_total(state.spend)
        refunds = window_total(state.refunds)
        values[REFUND_RATIO] = (100 * refunds / spend) if spend else 0
        values[SPEND] = spend / 100
    if needs[MONTHLY_INCOME]:
        values[MONTHLY_INCOME] = (state.monthly_income or 0) / 100
    if needs[TENURE]:
        values[TENURE] = max(0, state.clock - state.opened_at) // SECONDS_PER_DAY
    if needs[SALES]:
        values[SALES] = sales / 100
    if needs[SALES_STABILITY]:
        values[SALES_STABILITY] = sales_stability_pct(state.sales, today, view.long_days)
    if needs[SHOP_REFUND_RATIO]:
        shop_refunds = window_total(state.shop_refunds)
        values[SHOP_REFUND_RATIO] = (100 * shop_refunds / sales) if sales else 0
    return values


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
