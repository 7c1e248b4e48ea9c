"""The policy as the engine reads it on every event: plain native fields, built once per policy.

A policy is a pydantic model. From the compiled engine, every attribute read of one goes through
CPython's ``__getattr__`` hook path (pydantic's ``BaseModel`` defines ``__getattr__``), about 350
instructions a read, and the engine made about 50 such reads an event: 9% of replay's instructions
(callgrind). A ``PolicyView`` holds the same values as a compiled class, whose fields the engine
reads directly. It is built from a loaded policy, which never changes (the models are frozen), so
the view cannot drift from it; ``policy_view`` keeps one per policy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from schemas.events import PRODUCTS, Product
from streams.engine.scoring import CardView, bins_reached
from streams.policy import Guardrails, Policy

__all__ = ["PolicyView", "ProductView", "policy_view"]


class ProductView:
    """What sizing, offering and deciding read of one product's rules and the policy around them."""

    def __init__(self, product: Product, policy: Policy) -> None:
        rules = policy.products[product]
        general = policy.rules
        guardrails = policy.guardrails
        self.eligibility: str = rules.eligibility
        self.model: str = rules.model
        self.min_score: int = rules.min_score
        self.sales_sized: bool = bool(rules.sales_share_tiers)
        self.tier_scores, self.tier_limits = rules.limit_table
        self.share_scores, self.shares = rules.share_table
        self.income_ratio: tuple[int, int] | None = rules.income_ratio
        self.no_income_limit: int | None = rules.no_income_limit
        self.max_limit: int = rules.max_limit
        self.limit_step: int = rules.limit_step
        self.min_limit: int = rules.min_limit
        self.thin_file: bool = product in general.thin_file_products
        self.thin_file_limit: int | None = general.thin_file_bnpl_limit if product == "bnpl" else None
        # After cooling-off the limit climbs back over rebuild_days (0: it does not).
        self.rebuild_days: int = general.rebuild_days if product in general.cooling_off_products else 0
        self.rebuild_floor: int = rules.limit_tiers[0].limit if rules.limit_tiers else 0
        self.personal_loan: bool = product in guardrails.personal_loan_products
        self.personal_loan_cap: int = guardrails.personal_loan_cap
        self.terms: tuple[int, ...] = tuple(rules.terms)
        self.min_amount: int = rules.min_amount
        self.partial_step: int = rules.partial_step
        self.allow_partial: bool = rules.allow_partial
        self.priced_apr: Callable[[int, Guardrails], str] = rules.priced_apr  # once a decision

    def tier_limit(self, score: int) -> int:
        """The score tier's limit in fen (0 below the first tier)."""
        index = bins_reached(self.tier_scores, score)
        return self.tier_limits[index - 1] if index else 0

    def sales_limit(self, score: int, sales: int) -> int:
        """The score tier's share of ``sales`` (fen), rounded down (0 below the first tier)."""
        index = bins_reached(self.share_scores, score)
        if not index:
            return 0
        numerator, denominator = self.shares[index - 1]
        return sales * numerator // denominator

    def income_limit(self, monthly_income: int | None) -> int | None:
        """The income cap in fen: a multiple of monthly income, or the no-income limit; None if none."""
        if monthly_income is None:
            return self.no_income_limit
        ratio = self.income_ratio
        if ratio is None:
            return None
        return monthly_income * ratio[0] // ratio[1]


class PolicyView:
    """A policy's values the engine reads per event (``policy`` is the model itself)."""

    def __init__(self, policy: Policy) -> None:
        self.policy: Policy = policy
        self.version: str = policy.version
        self.timezone_offset_seconds: int = policy.timezone_offset_minutes * 60
        windows = policy.windows
        self.long_days: int = windows.long_days
        self.velocity_days: int = windows.velocity_days
        self.late_history_days: int = windows.late_history_days
        memory = policy.memory
        self.event_ids_kept: int = memory.event_ids
        self.decisions_kept: int = memory.decisions
        self.purchases_kept: int = memory.purchases
        self.purchase_days: int = memory.purchase_days
        rules = policy.rules
        self.max_applications_24h: int = rules.max_applications_24h
        self.non_performing_days: int = rules.non_performing_days
        self.grace_days: int = rules.grace_days
        self.cooling_off_days: int = rules.cooling_off_days
        self.cooling_off_products: tuple[Product, ...] = tuple(rules.cooling_off_products)
        self.velocity_applications: int = rules.velocity_applications
        self.velocity_bnpl_purchases: int = rules.velocity_bnpl_purchases
        guardrails = policy.guardrails
        self.guardrails: Guardrails = guardrails
        self.personal_loan_products: tuple[Product, ...] = tuple(guardrails.personal_loan_products)
        self.personal_loan_cap: int = guardrails.personal_loan_cap
        self.annual_income_divisor: int = guardrails.annual_income_divisor
        self.no_income_personal_loan_cap: int = guardrails.no_income_personal_loan_cap
        self.default_segment: str = policy.default_profile.segment
        indices = policy.model_indices
        self.consumer_card: CardView = CardView(policy.score, indices["consumer"])
        self.merchant_card: CardView | None = (
            None if policy.merchant_score is None else CardView(policy.merchant_score, indices["merchant"])
        )
        self.blocking_indices: dict[Product, tuple[int, ...]] = dict(policy.blocking_indices)
        self.products: dict[Product, ProductView] = {p: ProductView(p, policy) for p in PRODUCTS}


class _Latest:
    """The view last asked for: the usual hit is the same policy again (a native field read)."""

    def __init__(self) -> None:
        self.view: PolicyView | None = None


_LATEST: Final = _Latest()
# id(policy) -> its view, which holds the policy itself, so that its id is not reused meanwhile.
_VIEWS: Final[dict[int, PolicyView]] = {}


def policy_view(policy: Policy) -> PolicyView:
    """The view of ``policy``, built on first use. A shadow challenger's policy alternates with
    the champion's and gets its own."""
    latest = _LATEST.view
    if latest is not None and latest.policy is policy:
        return latest
    view = _VIEWS.get(id(policy))
    if view is None or view.policy is not policy:
        if len(_VIEWS) >= 16:  # a run uses one or two policies (a champion and a challenger)
            _VIEWS.clear()
        view = PolicyView(policy)
        _VIEWS[id(policy)] = view
    _LATEST.view = view
    return view
