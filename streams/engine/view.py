"""The policy as the engine reads it on every event: plain native fields, built once per policy.

A policy is a pydantic model. From the compiled engine, every attribute read of one goes through
CPython's ``__getattr__`` hook path (pydantic's ``BaseModel`` defines ``__getattr__``), about 350
instructions a read, and the engine made about 50 such reads an event: 9% of replay's instructions
(callgrind). A ``PolicyView`` holds the same values as a compiled class, whose fields the engine
reads directly. It is built from a loaded policy, which never changes (the models are frozen), so
the view cannot drift from it; ``policy_view`` keeps one per policy.
"""

from __future__ import annotations

from typing import Final

from schemas.events import PRODUCTS, Product
from streams.policy import FEATURES, Policy, ProductPolicy
from streams.policy.scorecard import ScorePolicy

__all__ = ["CardView", "PolicyView", "ProductView", "policy_view"]


class CardView:
    """A scorecard as the engine scores with it: each factor's feature by its position in
    FEATURES (``streams.engine.features.feature_values``), and which features the card needs."""

    def __init__(self, card: ScorePolicy, products: tuple[int, ...]) -> None:
        self.card: ScorePolicy = card
        self.products: tuple[int, ...] = products  # the products whose repayment record it reads
        used = card.features_used
        self.needs: tuple[bool, ...] = tuple([name in used for name in FEATURES])
        factors, base, minimum, maximum = card.scoring
        self.factors: tuple[tuple[int, tuple[float, ...], tuple[int, ...]], ...] = tuple(
            [(FEATURES.index(feature), bounds, points) for feature, bounds, points in factors]
        )
        self.base: int = base
        self.minimum: int = minimum
        self.maximum: int = maximum


class ProductView:
    """What deciding and offering read of one product's rules."""

    def __init__(self, rules: ProductPolicy) -> None:
        self.policy: ProductPolicy = rules  # what is read once a decision (pricing) stays on the model
        self.eligibility: str = rules.eligibility
        self.model: str = rules.model
        self.terms: tuple[int, ...] = tuple(rules.terms)
        self.min_amount: int = rules.min_amount
        self.partial_step: int = rules.partial_step
        self.allow_partial: bool = rules.allow_partial
        self.sales_sized: bool = bool(rules.sales_share_tiers)


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
        self.thin_file_products: tuple[Product, ...] = tuple(rules.thin_file_products)
        self.velocity_applications: int = rules.velocity_applications
        self.velocity_bnpl_purchases: int = rules.velocity_bnpl_purchases
        guardrails = policy.guardrails
        self.personal_loan_products: tuple[Product, ...] = tuple(guardrails.personal_loan_products)
        self.personal_loan_cap: int = guardrails.personal_loan_cap
        self.annual_income_divisor: int = guardrails.annual_income_divisor
        self.no_income_personal_loan_cap: int = guardrails.no_income_personal_loan_cap
        self.default_segment: str = policy.default_profile.segment
        self.score: ScorePolicy = policy.score
        self.merchant_score: ScorePolicy | None = policy.merchant_score
        indices = policy.model_indices
        self.consumer_card: CardView = CardView(policy.score, indices["consumer"])
        self.merchant_card: CardView | None = (
            None if policy.merchant_score is None else CardView(policy.merchant_score, indices["merchant"])
        )
        self.blocking_indices: dict[Product, tuple[int, ...]] = dict(policy.blocking_indices)
        self.products: dict[Product, ProductView] = {p: ProductView(policy.products[p]) for p in PRODUCTS}


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
        view = PolicyView(policy)
        _VIEWS[id(policy)] = view
    _LATEST.view = view
    return view
