"""A synthetic but realistic population of users over event time, deterministic for a seed.

Personas: salaried consumers, students who borrow often, merchants with seasonal sales, invited
users (installment loans), and a troubled share who stop paying, age through 30/60/90 days past
due, and in part cure. The simulator runs the credit engine alongside (default policy), the way a
servicing system knows what was approved: repayments and delinquency reports follow real balances.

Days are generated one at a time and written in time order, so memory holds one day's events and
each user's small state, whatever the number of days.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Final

import orjson

from schemas.events import EVENT_ADAPTER, PRODUCTS
from schemas.money import fen_to_yuan, parse_yuan
from schemas.outputs import Decision
from streams.engine import UserState, apply
from streams.policy import Policy

__all__ = ["PERSONAS", "Persona", "Simulation"]

CST: Final = timezone(timedelta(hours=8))
DEFAULT_START: Final = datetime(
    2024, 1, 1, tzinfo=CST
)  # in the past: live, events may not be dated ahead of their records
CATEGORIES: Final = (
    "groceries",
    "dining",
    "apparel",
    "electronics",
    "travel",
    "education",
    "health",
    "digital",
)
_DPD_REPORTS: Final = (1, 30, 60, 90, 120)


@dataclass(frozen=True)
class Persona:
    name: str
    share: float
    segment: str
    income: tuple[int, int] | None  # monthly income range in yuan, None = not declared
    purchases_per_day: float
    purchase_yuan: tuple[int, int]
    credit_share: float  # share of purchases paid with bnpl
    loans_per_30_days: float
    loan_products: tuple[str, ...]
    loan_yuan: tuple[int, int]
    late_share: float  # share of bills paid late
    late_days: tuple[int, int]
    invited: tuple[str, ...] = ()
    sales_per_day: float = 0.0
    sale_yuan: tuple[int, int] = (0, 0)
    trouble: bool = False


PERSONAS: Final = (
    Persona(
        "salaried", share=0.45, segment="consumer", income=(6000, 30000),
        purchases_per_day=0.5, purchase_yuan=(20, 800), credit_share=0.5,
        loans_per_30_days=0.5, loan_products=("cash_loan",), loan_yuan=(1000, 20000),
        late_share=0.04, late_days=(1, 10),
    ),
    Persona(
        "student", share=0.20, segment="consumer", income=None,
        purchases_per_day=0.8, purchase_yuan=(5, 200), credit_share=0.7,
        loans_per_30_days=4.0, loan_products=("cash_loan",), loan_yuan=(500, 3000),
        late_share=0.25, late_days=(3, 40),
    ),
    Persona(
        "merchant", share=0.15, segment="merchant", income=(10000, 80000),
        purchases_per_day=0.2, purchase_yuan=(20, 500), credit_share=0.3,
        loans_per_30_days=0.7, loan_products=("business_loan",), loan_yuan=(2000, 50000),
        late_share=0.05, late_days=(1, 15), sales_per_day=4.0, sale_yuan=(50, 3000),
    ),
    Persona(
        "invited", share=0.10, segment="consumer", income=(12000, 40000),
        purchases_per_day=0.5, purchase_yuan=(50, 1500), credit_share=0.5,
        loans_per_30_days=0.6, loan_products=("installment_loan", "cash_loan"), loan_yuan=(5000, 30000),
        late_share=0.02, late_days=(1, 5), invited=("installment_loan",),
    ),
    Persona(
        "troubled", share=0.10, segment="consumer", income=(4000, 12000),
        purchases_per_day=0.6, purchase_yuan=(20, 600), credit_share=0.7,
        loans_per_30_days=1.5, loan_products=("cash_loan",), loan_yuan=(1000, 8000),
        late_share=0.15, late_days=(5, 25), trouble=True,
    ),
)  # fmt: skip


@dataclass(order=True)
class _Scheduled:
    day: int
    seq: int
    kind: str = field(compare=False)
    data: dict[str, Any] = field(compare=False)


@dataclass
class _User:
    user_id: str
    persona: Persona
    rng: random.Random
    bill_day: int  # day of month the statement is cut
    trouble_day: int | None = None  # from this day the user stops paying ...
    cure_day: int | None = None  # ... and from this day pays everything back
    state: UserState | None = None
    queue: list[_Scheduled] = field(default_factory=list)
    counter: int = 0
    purchases: list[tuple[str, int]] = field(default_factory=list)  # refundable (event id, fen)

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{self.user_id}-{prefix}{self.counter}"


class Simulation:
    """Iterate over ``lines()`` for the events (JSON bytes, time order); ``counts`` and ``personas``
    summarise what was produced."""

    def __init__(
        self,
        users: int,
        days: int,
        seed: int,
        policy: Policy,
        start: datetime = DEFAULT_START,
        id_prefix: str = "",
        activity: float = 1.0,
    ) -> None:
        """``activity`` scales everyday purchases and sales (1.0 = the personas' rates); loans,
        repayments and delinquencies keep their behaviour, so a large population stays affordable."""
        if users < 1 or days < 1:
            raise ValueError("users and days must be at least 1")
        if not 0 < activity <= 10:
            raise ValueError("activity must be above 0 and at most 10")
        self.activity = activity
        self.days = days
        self.start = start
        self.policy = policy
        self.counts: Counter[str] = Counter()
        self.personas: Counter[str] = Counter()
        chooser = random.Random(seed)
        self.users: list[_User] = []
        for index in range(users):
            persona = chooser.choices(PERSONAS, weights=[p.share for p in PERSONAS])[0]
            prefix = "m" if persona.segment == "merchant" else "u"
            user = _User(
                f"{id_prefix}{prefix}{index:07d}",
                persona,
                random.Random(f"{seed}:{index}"),
                chooser.randint(1, 28),
            )
            if persona.trouble:
                user.trouble_day = user.rng.randint(days // 6, max(days // 6, days // 2))
                if user.rng.random() < 0.5:
                    user.cure_day = user.trouble_day + user.rng.randint(40, 130)
            self.users.append(user)
            self.personas[persona.name] += 1

    def lines(self) -> Iterator[bytes]:
        for day in range(self.days):
            batch: list[tuple[int, int, bytes]] = []
            for index, user in enumerate(self.users):
                for second, line in self._user_day(user, day):
                    batch.append((second, index, line))
            batch.sort(key=lambda item: (item[0], item[1]))
            for _, _, line in batch:
                yield line

    # -- one user's day -------------------------------------------------------------------------

    def _user_day(self, user: _User, day: int) -> list[tuple[int, bytes]]:
        rng, persona = user.rng, user.persona
        planned: list[tuple[int, str, dict[str, Any]]] = []
        if day == 0:
            opened: dict[str, Any] = {"segment": persona.segment, "invited_products": list(persona.invited)}
            if persona.income is not None:
                opened["monthly_income"] = str(rng.randint(*persona.income))
            planned.append((rng.randint(0, 3600), "account_opened", opened))
        for _ in range(_poisson(rng, persona.purchases_per_day * self.activity)):
            funding = "credit" if rng.random() < persona.credit_share else "own"
            amount = _money(rng, persona.purchase_yuan)
            planned.append(
                (
                    rng.randint(3600, 86399),
                    "purchase",
                    {
                        "amount": amount,
                        "merchant_id": f"merchant-{rng.randint(1, 500)}",
                        "merchant_category": rng.choice(CATEGORIES),
                        "funding": funding,
                    },
                )
            )
        if persona.sales_per_day:
            season = 1.0 + 0.5 * _seasonality(self.start.date() + timedelta(days=day))
            for _ in range(_poisson(rng, persona.sales_per_day * season * self.activity)):
                planned.append((rng.randint(3600, 86399), "sale", {"amount": _money(rng, persona.sale_yuan)}))
        if rng.random() < persona.loans_per_30_days / 30:
            product = rng.choice(persona.loan_products)
            terms = self.policy.products[product].terms  # type: ignore[index]
            planned.append(
                (
                    rng.randint(3600, 86399),
                    "application",
                    {
                        "product": product,
                        "amount": _money(rng, persona.loan_yuan, whole=True),
                        # A few requests ask for a term the product does not offer (INVALID_TERM).
                        "term_months": rng.choice(terms) if rng.random() > 0.02 else 5,
                    },
                )
            )
        while user.queue and user.queue[0].day <= day:
            item = heapq.heappop(user.queue)
            planned.append((item.data.pop("second"), item.kind, item.data))
        if (self.start + timedelta(days=day)).day == user.bill_day and user.state is not None:
            self._cut_statement(user, day)

        out: list[tuple[int, bytes]] = []
        for second, kind, fields in sorted(planned, key=lambda p: p[0]):
            line = self._emit(user, day, second, kind, fields)
            if line is not None:
                out.append((second, line))
        return out

    def _emit(self, user: _User, day: int, second: int, kind: str, fields: dict[str, Any]) -> bytes | None:
        if kind == "refund" and not any(pid == fields["purchase_event_id"] for pid, _ in user.purchases):
            return None
        occurred = self.start + timedelta(days=day, seconds=second)
        document = {
            "event_id": user.next_id(kind[:2]),
            "type": kind,
            "user_id": user.user_id,
            "occurred_at": occurred.isoformat(),
            **fields,
        }
        event = EVENT_ADAPTER.validate_python(document)
        result = apply(user.state, event, self.policy)
        user.state = result.state
        self.counts[kind] += 1
        if kind == "purchase":
            approved = any(isinstance(o, Decision) and o.approved_amount for o in result.outputs)
            if fields["funding"] == "own" or approved:
                self._maybe_refund(user, day, document["event_id"], parse_yuan(fields["amount"]))
        elif kind == "refund":
            user.purchases = [(pid, a) for pid, a in user.purchases if pid != fields["purchase_event_id"]]
        return orjson.dumps(document)

    def _maybe_refund(self, user: _User, day: int, purchase_id: str, fen: int) -> None:
        user.purchases = [*user.purchases[-20:], (purchase_id, fen)]
        if user.rng.random() < 0.05:
            part = fen if user.rng.random() < 0.6 else max(1, fen // 2)
            self._schedule(
                user,
                day + user.rng.randint(1, 14),
                "refund",
                {"amount": fen_to_yuan(part), "purchase_event_id": purchase_id},
            )

    def _cut_statement(self, user: _User, day: int) -> None:
        """Bill every product with a balance; schedule the payment (on time, late, or never)."""
        assert user.state is not None
        rng, persona = user.rng, user.persona
        troubled = user.trouble_day is not None and day >= user.trouble_day
        cured = user.cure_day is not None and day >= user.cure_day
        due = day + 10
        due_date = (self.start + timedelta(days=due)).date()
        for index, product in enumerate(PRODUCTS):
            owed = user.state.outstanding[index]
            if owed <= 0:
                continue
            bill = owed if product == "bnpl" else max(min(owed, 10000), owed // 6)
            if troubled and not cured:
                # The servicing system reports the unpaid bill as it ages.
                for dpd in _DPD_REPORTS:
                    if user.cure_day is None or due + dpd < user.cure_day:
                        self._schedule(
                            user,
                            due + dpd,
                            "delinquency",
                            {"product": product, "days_past_due": dpd, "amount_overdue": fen_to_yuan(bill)},
                        )
                if user.cure_day is not None:
                    pay_day = max(user.cure_day, due + 1)
                    self._pay(user, pay_day, product, owed, due_date, cure=True)
                continue
            if rng.random() < persona.late_share:
                late = rng.randint(*persona.late_days)
                self._schedule(
                    user,
                    due + 1,
                    "delinquency",
                    {"product": product, "days_past_due": 1, "amount_overdue": fen_to_yuan(bill)},
                )
                if late >= 30:
                    self._schedule(
                        user,
                        due + 30,
                        "delinquency",
                        {"product": product, "days_past_due": 30, "amount_overdue": fen_to_yuan(bill)},
                    )
                self._pay(user, due + late, product, bill, due_date, cure=True)
            else:
                self._pay(user, due - rng.randint(0, 8), product, bill, due_date, cure=False)

    def _pay(self, user: _User, day: int, product: str, fen: int, due_date: date, cure: bool) -> None:
        self._schedule(
            user,
            day,
            "repayment",
            # The servicing system knows the bill: it says what was due, so the bill counts once.
            {
                "product": product,
                "amount": fen_to_yuan(fen),
                "due_date": due_date.isoformat(),
                "amount_due": fen_to_yuan(fen),
            },
        )
        if cure:
            self._schedule(
                user,
                day,
                "delinquency",
                {"product": product, "days_past_due": 0, "amount_overdue": "0"},
                second=86399,
            )

    def _schedule(
        self, user: _User, day: int, kind: str, data: dict[str, Any], second: int | None = None
    ) -> None:
        if day >= self.days:
            return
        data["second"] = second if second is not None else user.rng.randint(3600, 86000)
        user.counter += 1
        heapq.heappush(user.queue, _Scheduled(day, user.counter, kind, data))


def _poisson(rng: random.Random, mean: float) -> int:
    """Small Poisson draws by inversion (means here are below 10)."""
    if mean <= 0:
        return 0
    threshold, count, product = pow(2.718281828459045, -mean), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def _money(rng: random.Random, bounds: tuple[int, int], whole: bool = False) -> str:
    """A log-uniform amount in yuan (many small, some large), drawn as integer fen."""
    low, high = bounds[0] * 100, bounds[1] * 100
    fen = max(1, int(low * pow(high / low, rng.random())))
    if whole:  # loan requests in whole hundreds of yuan
        fen = max(low, fen - fen % 10_000)
    return fen_to_yuan(fen)


def _seasonality(day: date) -> float:
    """Sales peak around Double 11 (November) and Chinese New Year; quiet in summer. Range -1..1."""
    return {
        1: 0.6,
        2: 0.8,
        3: -0.2,
        4: -0.3,
        5: 0.0,
        6: 0.3,
        7: -0.6,
        8: -0.6,
        9: -0.2,
        10: 0.2,
        11: 1.0,
        12: 0.7,
    }[day.month]
