"""A user's credit state: compact, bounded, versioned, and serialised with a fast codec.

The whole value is written to the table's changelog on every event, so everything here is bounded:
windows are day buckets pruned to the longest window, and the idempotency memory is a ring of the
most recent event ids, decisions and purchases (sizes in the policy's [memory]).
Per-product lists are indexed in PRODUCTS order (bnpl, cash_loan, installment_loan, business_loan).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

import orjson

__all__ = [
    "STATE_VERSION",
    "DecisionRecord",
    "PurchaseRecord",
    "StateDecodeError",
    "StoredDecision",
    "StoredPurchase",
    "UserState",
    "decision_entry",
    "decision_outcome",
    "decision_record",
    "purchase_day",
    "purchase_entry",
    "purchase_record",
]

STATE_VERSION: Final = 6
# Older versions stay readable: 1 had no input_offset (read as -1), 1 and 2 no cured_default_day,
# 1 to 3 kept one (worst days past due, day) pair, and 1 to 4 kept the repayment record for the
# user as a whole; 5 keeps it per product (bills, on-time counts, late days, peaks), which the
# per-product models need. An old record is attributed to bnpl, or business_loan for a merchant.
# 1 to 5 kept each decision and purchase as a JSON array, [[event id, array], ...]; 6 keeps them
# as {event id: entry text} (below), and an older state's arrays become that text when read.
_READABLE_VERSIONS: Final = (1, 2, 3, 4, 5, 6)
_FIELD_COUNTS: Final = {1: 26, 2: 27, 3: 28, 4: 27, 5: 34, 6: 34}  # the version number included
N_PRODUCTS: Final = 4


# The kept decisions and purchases (up to 16 and 32 a user) are each one line of text, read back
# into fields only when needed: a redelivered request, a refund, the support view. As tuples they
# were two thirds of the objects a young collection scans: a str is never tracked by the cycle
# collector, nor a dict holding only text, while every tuple is tracked until a collection has
# looked at it once, so a young pass scanned the kept records of every user changed since the
# last one (issue 33: 65,527 of 90,488 young objects, passes growing to 111 ms in the worker).
# Text costs no more to store: it is read and written by orjson as it is, with no per-record work.
# Its separator "|" cannot occur in any field but the last, the policy version, which is split
# off whole (``str.split`` with a limit); reason codes are upper-case words joined by ",".

DecisionRecord: TypeAlias = tuple[
    str, str, int, int, str, "int | None", tuple[str, ...], "int | None", int, int, str, str
]
"""A kept decision's fields: (product, outcome, requested fen, approved fen, apr, term months,
reasons, score (None: no score from the product's model; kept by creditstream 0.1 as 0), limit
fen, available after fen, decided at as ISO text, policy version)."""

StoredDecision: TypeAlias = str
"""A decision kept for re-emission on a redelivered request: a DecisionRecord as one line of text
(``decision_entry``). Immutable, so copies share it."""

PurchaseRecord: TypeAlias = tuple[int, int, int, int]
"""A kept purchase's fields: (amount fen, refunded fen, by credit: 1 when funded by bnpl credit
else 0, local day number)."""

StoredPurchase: TypeAlias = str
"""A purchase kept so that refunds can be checked against it: a PurchaseRecord as one line of
text (``purchase_entry``)."""

_SEPARATOR: Final = "|"
_DECISION_FIELDS: Final = 12
_NO_NUMBER: Final = ""  # a term or score that is None


def decision_entry(record: DecisionRecord) -> StoredDecision:
    """A decision's fields as the text the state keeps."""
    (product, outcome, requested, approved, apr, term, reasons, score, limit, available_after,
     decided_at, policy_version) = record  # fmt: skip
    return _SEPARATOR.join(
        (
            product,
            outcome,
            str(requested),
            str(approved),
            apr,
            _NO_NUMBER if term is None else str(term),
            ",".join(reasons),
            _NO_NUMBER if score is None else str(score),
            str(limit),
            str(available_after),
            decided_at,
            policy_version,
        )
    )


def decision_record(entry: StoredDecision) -> DecisionRecord:
    """The fields of a kept decision, as ``decision_entry`` was given them."""
    fields = entry.split(_SEPARATOR, _DECISION_FIELDS - 1)
    if len(fields) != _DECISION_FIELDS:
        raise StateDecodeError(f"a kept decision has {len(fields)} fields, not {_DECISION_FIELDS}: {entry!r}")
    (product, outcome, requested, approved, apr, term, reasons, score, limit, available_after,
     decided_at, policy_version) = fields  # fmt: skip
    return (
        product,
        outcome,
        int(requested),
        int(approved),
        apr,
        None if term == _NO_NUMBER else int(term),
        tuple(reasons.split(",")) if reasons else (),
        None if score == _NO_NUMBER else int(score),
        int(limit),
        int(available_after),
        decided_at,
        policy_version,
    )


def decision_outcome(entry: StoredDecision) -> str:
    """A kept decision's outcome, without reading the rest."""
    return entry.split(_SEPARATOR, 2)[1]


def purchase_entry(record: PurchaseRecord) -> StoredPurchase:
    """A purchase's fields as the text the state keeps."""
    amount, refunded, by_credit, day = record
    return f"{amount}|{refunded}|{by_credit}|{day}"


def purchase_record(entry: StoredPurchase) -> PurchaseRecord:
    """The fields of a kept purchase, as ``purchase_entry`` was given them."""
    fields = entry.split(_SEPARATOR)
    if len(fields) != 4:
        raise StateDecodeError(f"a kept purchase has {len(fields)} fields, not 4: {entry!r}")
    return (int(fields[0]), int(fields[1]), int(fields[2]), int(fields[3]))


def purchase_day(entry: StoredPurchase) -> int:
    """A kept purchase's local day number, without reading the rest: pruning reads it per event."""
    return int(entry[entry.rindex(_SEPARATOR) + 1 :])


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
    # Per product, delinquency peaks as [local day, days past due], oldest first, each smaller than
    # the one before: a report drops the older peaks it equals or exceeds (they would expire first).
    # The worst still within the history window is then the oldest one kept.
    delinquency_peaks: list[list[list[int]]] = field(default_factory=lambda: [[] for _ in range(N_PRODUCTS)])
    on_time: list[int] = field(default_factory=lambda: [0] * N_PRODUCTS)  # bills paid on time, per product
    late_repayments: list[list[int]] = field(default_factory=list)  # [local day, product index], by day
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
    account_known: bool = False  # an account_opened was seen
    merchant_score: int = 0  # 0 when there is no merchant model or the user is not a merchant
    merchant_points: list[int] = field(default_factory=list)
    # Bills by "product index:due day" -> [amount due, paid so far, 0 open / 1 on time / 2 late]: a
    # bill counts once, on time only when at least the amount due is paid by the due date + grace.
    bills: dict[str, list[int]] = field(default_factory=dict)
    bnpl_purchases: list[int] = field(default_factory=list)  # epoch seconds of recent credit purchases
    shop_refunds: dict[int, int] = field(default_factory=dict)  # local day -> a merchant's refunds (fen)
    # Per product: [offer state, [reason codes]]; the limit is in ``limits``.
    offers: list[list[Any]] = field(default_factory=list)
    # Not stored: what the engine last computed for this user, under which policy and by everything
    # it read (per product limits, then offers), so that an event that moves none of it skips the
    # work. A cache of pure functions, carried to copies and lost on serialisation; it never
    # changes a result.
    limits_memo: tuple[Any, ...] = field(default=(), compare=False, repr=False)
    offers_memo: tuple[Any, ...] = field(default=(), compare=False, repr=False)

    def copy(self) -> UserState:
        """A copy for the engine to change: it never mutates the state it was given.

        Shallow, since it runs per event: the engine never changes an item inside a container in
        place (a peak, a late repayment, a bill or an offer is replaced whole). Only the balances
        and the event-id memory, which most events change, get new containers here; every other
        container is shared with this state and copied by the engine when it writes to it, or
        replaced whole (scores' points, limits, offers). A sale, the most common event, touches
        none but the sales window. tests/unit/engine/test_properties.py checks that no earlier
        state changes, whatever follows."""
        return UserState(
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
            list(self.outstanding),
            list(self.credit_balance),
            self.days_past_due,
            self.amount_overdue,
            self.delinquency_peaks,
            self.on_time,
            self.late_repayments,
            self.spend,
            self.refunds,
            self.sales,
            self.applications,
            dict(self.seen),
            self.decisions,
            self.purchases,
            self.input_offset,
            self.cured_default_day,
            self.account_known,
            self.merchant_score,
            self.merchant_points,
            self.bills,
            self.bnpl_purchases,
            self.shop_refunds,
            self.offers,
            self.limits_memo,
            self.offers_memo,
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
                self.on_time,
                self.late_repayments,
                list(self.spend.items()),
                list(self.refunds.items()),
                list(self.sales.items()),
                self.applications,
                list(self.seen),
                self.decisions,
                self.purchases,
                self.input_offset,
                self.cured_default_day,
                self.account_known,
                self.merchant_score,
                self.merchant_points,
                self.bills,
                self.bnpl_purchases,
                list(self.shop_refunds.items()),
                self.offers,
            ]
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
        if version >= 5:
            return cls._from_v5_or_v6(fields)
        return cls._from_v4_or_older(fields)

    @classmethod
    def _from_v5_or_v6(cls, fields: list[Any]) -> UserState:
        version = fields[0]
        (_, user_id, segment, status, opened_at, clock, income, invited, score, points, limits, outstanding,
         balance, dpd, overdue, peaks, on_time, late, spend, refunds, sales, apps, seen, decisions,
         purchases, input_offset, cured_default_day, account_known, merchant_score, merchant_points,
         bills, bnpl_purchases, shop_refunds, offers) = fields  # fmt: skip
        return cls(
            user_id, segment, status, opened_at, clock, income, invited, score, points, limits,
            outstanding, balance, dpd, overdue, peaks, on_time, late, dict(spend), dict(refunds),
            dict(sales), apps, dict.fromkeys(seen),
            decisions if version == 6 else _decisions(decisions),
            purchases if version == 6 else _purchases(purchases),
            input_offset, cured_default_day, account_known, merchant_score, merchant_points, bills,
            bnpl_purchases, dict(shop_refunds), offers,
        )  # fmt: skip

    @classmethod
    def _from_v4_or_older(cls, fields: list[Any]) -> UserState:
        version = fields[0]
        cured_default_day = fields.pop() if version >= 3 else -1
        input_offset = fields.pop() if version >= 2 else -1
        if version >= 4:
            fields.insert(16, None)  # 4 keeps the peaks where 1 to 3 kept the worst and its day
        (_, user_id, segment, status, opened_at, clock, income, invited, score, points, limits, outstanding,
         balance, dpd, overdue, worst, worst_day, on_time, late_days, spend, refunds, sales, apps, seen,
         decisions, purchases) = fields  # fmt: skip
        # The whole-user record is attributed to the product a user of this segment uses most.
        owner = N_PRODUCTS - 1 if segment == "merchant" else 0
        peaks: list[list[list[int]]] = [[] for _ in range(N_PRODUCTS)]
        peaks[owner] = worst if version >= 4 else ([[worst_day, worst]] if worst > 0 else [])
        on_time_by_product = [0] * N_PRODUCTS
        on_time_by_product[owner] = on_time
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
            peaks,
            on_time_by_product,
            [[day, owner] for day in late_days],
            dict(spend),
            dict(refunds),
            dict(sales),
            apps,
            dict.fromkeys(seen),
            _decisions(decisions),
            _purchases(purchases),
            input_offset,
            cured_default_day,
            account_known=income is not None or bool(invited) or segment == "merchant",
        )


def _decisions(pairs: list[Any]) -> dict[str, StoredDecision]:
    """Versions 1 to 5's [[event id, decision array], ...] as version 6 keeps them."""
    decisions: dict[str, StoredDecision] = {}
    for key, fields in pairs:
        fields[6] = tuple(fields[6])  # the reasons
        decisions[key] = decision_entry(tuple(fields))
    return decisions


def _purchases(pairs: list[Any]) -> dict[str, StoredPurchase]:
    """Versions 1 to 5's [[event id, purchase array], ...] as version 6 keeps them."""
    return {key: purchase_entry(tuple(fields)) for key, fields in pairs}
