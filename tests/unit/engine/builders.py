"""Readable builders of validated events for engine tests: a user's timeline, one call per event."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from schemas.events import EVENT_ADAPTER, PRODUCTS, Event
from schemas.outputs import Decision, LimitChanged, LimitReason, ScoreChanged
from streams.engine import Applied, UserState, apply
from streams.engine.apply import EngineOutput
from streams.policy import Policy, default_policy, policy_with_overrides

CST = timezone(timedelta(hours=8))
START = datetime(2026, 1, 1, 10, 0, tzinfo=CST)
# What may cut a limit: the risk signals, and what closes a product outright (issue 11).
RISK_CUTS = frozenset(
    {
        LimitReason.OVERDUE,
        LimitReason.NON_PERFORMING,
        LimitReason.ACCOUNT_FROZEN,
        LimitReason.ACCOUNT_CLOSED,
        LimitReason.VELOCITY,
        LimitReason.INCOME_FELL,
        LimitReason.SALES_FELL,
        LimitReason.COOLING_OFF,
        LimitReason.NOT_ELIGIBLE,
        LimitReason.THIN_FILE,  # a declared income withdrawn, with no bill paid yet
    }
)
# Lines offered from the lowest score up, each with a price for every score it lends to (a policy
# whose APR tiers start above min_score is refused at load): the tiers then never bind.
CASH_AT_EVERY_SCORE: dict[str, Any] = {
    "limit_tiers": [{"min_score": 350, "limit": 200000}],
    "min_score": 350,
    "apr_tiers": [{"min_score": 350, "apr": "0.2400"}],
}
INSTALMENTS_AT_EVERY_SCORE: dict[str, Any] = {
    "limit_tiers": [{"min_score": 350, "limit": 50000}],
    "min_score": 350,
    "apr_tiers": [{"min_score": 350, "apr": "0.1825"}],
}


def event(**fields: Any) -> Event:
    return EVENT_ADAPTER.validate_python(fields)


@dataclass
class Timeline:
    """One user's events applied in order, keeping the state and every output."""

    user_id: str = "u-1"
    policy: Policy = field(default_factory=default_policy)
    now: datetime = START
    state: UserState | None = None
    outputs: list[EngineOutput] = field(default_factory=list)
    owned: bool = False  # the engine may change the state in place, as in replay
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def at(self, days: float = 0, hours: float = 0) -> Timeline:
        """Move the user's clock forward."""
        self.now += timedelta(days=days, hours=hours)
        return self

    def send(self, event_type: str, event_id: str | None = None, **fields: Any) -> Applied:
        built = event(
            event_id=event_id or f"{event_type}-{next(self._ids)}",
            type=event_type,
            user_id=self.user_id,
            occurred_at=self.now.isoformat(),
            **fields,
        )
        return self.apply(built)

    def apply(self, built: Event) -> Applied:
        result = apply(self.state, built, self.policy, owned=self.owned)
        self.state = result.state
        self.outputs.extend(result.outputs)
        return result

    # -- shorthands -----------------------------------------------------------------------------
    def open(
        self, segment: str = "consumer", income: str | None = "15000", invited: list[str] | None = None
    ) -> Applied:
        fields: dict[str, Any] = {"segment": segment, "invited_products": invited or []}
        if income is not None:
            fields["monthly_income"] = income
        return self.send("account_opened", **fields)

    def buy(self, amount: str, funding: str = "credit", event_id: str | None = None) -> Applied:
        return self.send(
            "purchase",
            event_id,
            amount=amount,
            merchant_id="m-1",
            merchant_category="groceries",
            funding=funding,
        )

    def borrow(self, product: str, amount: str, term: int = 6, event_id: str | None = None) -> Applied:
        return self.send("application", event_id, product=product, amount=amount, term_months=term)

    def repay(self, product: str, amount: str, due_in_days: int = 0) -> Applied:
        due = (self.now + timedelta(days=due_in_days)).date().isoformat()
        return self.send("repayment", product=product, amount=amount, due_date=due)

    def overdue(self, product: str, days: int, amount: str = "100") -> Applied:
        return self.send(
            "delinquency", product=product, days_past_due=days, amount_overdue=amount if days else "0"
        )

    def status(self, status: str) -> Applied:
        return self.send("account_status", status=status)

    def sale(self, amount: str) -> Applied:
        return self.send("sale", amount=amount)

    def refund(self, purchase_event_id: str, amount: str) -> Applied:
        return self.send("refund", amount=amount, purchase_event_id=purchase_event_id)

    # -- reading --------------------------------------------------------------------------------
    def limit(self, product: str) -> int:
        assert self.state is not None
        return self.state.limits[PRODUCTS.index(product)]

    def outstanding(self, product: str) -> int:
        assert self.state is not None
        return self.state.outstanding[PRODUCTS.index(product)]

    @property
    def score(self) -> int:
        assert self.state is not None
        return self.state.score


def decision_of(result: Applied) -> Decision:
    decisions = [o for o in result.outputs if isinstance(o, Decision)]
    assert len(decisions) == 1, f"expected exactly one decision, got {result.outputs}"
    return decisions[0]


def score_changes(outputs: list[EngineOutput]) -> list[ScoreChanged]:
    return [o for o in outputs if isinstance(o, ScoreChanged)]


def limit_changes(outputs: list[EngineOutput]) -> list[LimitChanged]:
    return [o for o in outputs if isinstance(o, LimitChanged)]


def policy_with(overrides: dict[str, Any]) -> Policy:
    """The default policy with some values replaced (nested tables merge; values and lists replace)."""
    return policy_with_overrides(overrides)
