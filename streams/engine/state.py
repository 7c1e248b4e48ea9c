"""A user's credit state: compact, bounded, versioned, and serialised with a fast codec.

The whole value is written to the table's changelog on every event, so everything here is bounded:
windows are day buckets pruned to the longest window, and the idempotency memory is a ring of the
most recent event ids, decisions and purchases (sizes in the policy's [memory]).
Per-product lists are indexed in PRODUCTS order (bnpl, cash_loan, installment_loan, business_loan).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, NamedTuple

import orjson

__all__ = ["STATE_VERSION", "StateDecodeError", "StoredDecision", "StoredPurchase", "UserState"]

STATE_VERSION: Final = 4
# Older versions stay readable: 1 had no input_offset (read as -1), 1 and 2 no cured_default_day,
# and 1 to 3 kept one (worst days past due, day) pair where 4 keeps the delinquency peaks.
_READABLE_VERSIONS: Final = (1, 2, 3, 4)
_FIELD_COUNTS: Final = {1: 26, 2: 27, 3: 28, 4: 27}  # the version number included
N_PRODUCTS: Final = 4


class StoredDecision(NamedTuple):
    """A decision kept for re-emission on a redelivered request. Immutable, so copies share it."""

    product: str
    outcome: str
    requested: int  # fen
    approved: int  # fen
    apr: str
    term_months: int | None
    reasons: tuple[str, ...]
    score: int
    limit: int  # fen
    available_after: int  # fen
    decided_at: str  # ISO text
    policy_version: str


class StoredPurchase(NamedTuple):
    """A purchase kept so that refunds can be checked against it."""

    amount: int  # fen
    refunded: int  # fen
    by_credit: int  # 1 when funded by bnpl credit, else 0
    day: int  # local day number


class StateDecodeError(ValueError):
    """Stored state bytes that this version cannot read."""


@dataclass(slots=True)
class UserState:
    """Everything the engine knows about one user. Integers are fen, seconds or day numbers."""

    user_id: str
    segment: str
    status: str
    opened_at: int  # epoch seconds: account_opened, or the first event
    clock: int  # epoch seconds: the latest occurred_at seen (event time only)
    monthly_income: int | None = None
    invited: list[str] = field(default_factory=list)
    score: int = 0
    factor_points: list[int] = field(default_factory=list)
    limits: list[int] = field(default_factory=lambda: [0] * N_PRODUCTS)
    outstanding: list[int] = field(default_factory=lambda: [0] * N_PRODUCTS)
    credit_balance: list[int] = field(default_factory=lambda: [0] * N_PRODUCTS)  # overpayments
    days_past_due: list[int] = field(default_factory=lambda: [0] * N_PRODUCTS)
    amount_overdue: list[int] = field(default_factory=lambda: [0] * N_PRODUCTS)
    # Delinquency peaks as [local day, days past due], oldest first, each smaller than the one
    # before: a report drops the older peaks it equals or exceeds (they would expire first). The
    # worst still within the history window is then the oldest one kept.
    delinquency_peaks: list[list[int]] = field(default_factory=list)
    on_time_repayments: int = 0
    late_repayment_days: list[int] = field(default_factory=list)  # local days of late repayments
    spend: dict[int, int] = field(default_factory=dict)  # local day -> purchases (fen)
    refunds: dict[int, int] = field(default_factory=dict)  # local day -> refunds (fen)
    sales: dict[int, int] = field(default_factory=dict)  # local day -> merchant sales (fen)
    applications: list[int] = field(default_factory=list)  # epoch seconds of recent applications
    seen: dict[str, None] = field(default_factory=dict)  # recent event ids, oldest first
    decisions: dict[str, StoredDecision] = field(default_factory=dict)  # request event id -> decision
    purchases: dict[str, StoredPurchase] = field(default_factory=dict)  # purchase event id -> purchase
    # The Kafka offset of the last message applied to this user, on the user's partition of the
    # input topic (-1: none, or offline). A redelivered message at or below it is already applied,
    # however many events came since: dedupe does not depend on the size of the id memory.
    input_offset: int = -1
    # The local day a non-performing (90+ days past due) episode was cured, -1 if never: new cash
    # and instalment credit waits out the policy's cooling-off period after it.
    cured_default_day: int = -1

    def copy(self) -> UserState:
        """A copy whose containers are new: the engine never mutates the state it was given."""
        return UserState(
            self.user_id,
            self.segment,
            self.status,
            self.opened_at,
            self.clock,
            self.monthly_income,
            list(self.invited),
            self.score,
            list(self.factor_points),
            list(self.limits),
            list(self.outstanding),
            list(self.credit_balance),
            list(self.days_past_due),
            list(self.amount_overdue),
            [list(peak) for peak in self.delinquency_peaks],
            self.on_time_repayments,
            list(self.late_repayment_days),
            dict(self.spend),
            dict(self.refunds),
            dict(self.sales),
            list(self.applications),
            dict(self.seen),
            dict(self.decisions),  # values are tuples: shared, never mutated
            dict(self.purchases),
            self.input_offset,
            self.cured_default_day,
        )

    # -- serialisation ------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Compact JSON: a version, then the fields in declaration order."""
        return orjson.dumps(
            [
                STATE_VERSION,
                self.user_id,
                self.segment,
                self.status,
                self.opened_at,
                self.clock,
                self.monthly_income,
                self.invited,
                self.score,
                self.factor_points,
                self.limits,
                self.outstanding,
                self.credit_balance,
                self.days_past_due,
                self.amount_overdue,
                self.delinquency_peaks,
                self.on_time_repayments,
                self.late_repayment_days,
                list(self.spend.items()),
                list(self.refunds.items()),
                list(self.sales.items()),
                self.applications,
                list(self.seen),
                list(self.decisions.items()),
                list(self.purchases.items()),
                self.input_offset,
                self.cured_default_day,
            ],
            default=tuple,  # the stored records are NamedTuples: written as plain arrays
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> UserState:
        try:
            fields = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise StateDecodeError(f"stored state is not JSON: {exc}") from exc
        if not isinstance(fields, list) or not fields or fields[0] not in _READABLE_VERSIONS:
            version = fields[0] if isinstance(fields, list) and fields else None
            raise StateDecodeError(f"stored state version {version!r} is not one of {_READABLE_VERSIONS}")
        expected = _FIELD_COUNTS[fields[0]]
        if len(fields) != expected:
            raise StateDecodeError(
                f"stored state of version {fields[0]} has {len(fields)} fields, not {expected}"
            )
        version = fields[0]
        cured_default_day = fields.pop() if version >= 3 else -1
        input_offset = fields.pop() if version >= 2 else -1
        if version >= 4:
            fields.insert(16, None)  # 4 keeps the peaks where 1 to 3 kept the worst and its day
        (_, user_id, segment, status, opened_at, clock, income, invited, score, points, limits, outstanding,
         balance, dpd, overdue, worst, worst_day, on_time, late_days, spend, refunds, sales, apps, seen,
         decisions, purchases) = fields  # fmt: skip
        return cls(
            user_id,
            segment,
            status,
            opened_at,
            clock,
            income,
            invited,
            score,
            points,
            limits,
            outstanding,
            balance,
            dpd,
            overdue,
            worst if version >= 4 else ([[worst_day, worst]] if worst > 0 else []),
            on_time,
            late_days,
            dict(spend),
            dict(refunds),
            dict(sales),
            apps,
            dict.fromkeys(seen),
            {key: StoredDecision._make((*d[:6], tuple(d[6]), *d[7:])) for key, d in decisions},
            {key: StoredPurchase._make(p) for key, p in purchases},
            input_offset,
            cured_default_day,
        )
