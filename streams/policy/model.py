"""The whole policy: rules, windows, memory bounds, the scorecard, guardrails and the products."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import cached_property
from typing import Literal, Self

from pydantic import Field, model_validator

from schemas.events import PRODUCTS, Product
from schemas.money import MoneyOrZero
from streams.policy.base import StrictModel
from streams.policy.guardrails import Guardrails
from streams.policy.products import ProductPolicy
from streams.policy.scorecard import ScorePolicy

__all__ = ["DefaultProfile", "Memory", "Policy", "Rules", "Windows"]


class Rules(StrictModel):
    max_applications_24h: int = Field(ge=0)
    non_performing_days: int = Field(ge=1)
    grace_days: int = Field(0, ge=0)
    # After a non-performing episode is cured, no new credit on these products for this many days.
    cooling_off_days: int = Field(90, ge=0, le=3660)
    cooling_off_products: tuple[Product, ...] = ("cash_loan", "installment_loan")
    # After cooling-off, those products' limits climb from the lowest tier to the full one over this
    # many days (0: at once).
    rebuild_days: int = Field(180, ge=0, le=3660)
    # A thin file (no declared income, no bill paid on time yet) gets none of these products ...
    thin_file_products: tuple[Product, ...] = ("cash_loan", "installment_loan")
    # ... and bnpl at most this much (yuan).
    thin_file_bnpl_limit: MoneyOrZero = 50_000
    # Velocity as a risk signal that may cut limits: this many loan applications, or this many bnpl
    # purchases, within windows.velocity_days.
    velocity_applications: int = Field(4, ge=1)
    velocity_bnpl_purchases: int = Field(40, ge=1)
    # An event dated outside [earliest, latest) is refused: a date like 1900 or 9999 is an error
    # upstream, and applying it would move the user's clock (tenure, velocity) for good.
    earliest_plausible_date: date = date(2000, 1, 1)
    latest_plausible_date: date = date(2100, 1, 1)
    # An event dated this far after its Kafka record's timestamp (stamped by the broker) is refused:
    # one event from the future must not switch off velocity or inflate tenure.
    max_minutes_ahead_of_record: int = Field(24 * 60, ge=0)

    @model_validator(mode="after")
    def _plausible_range(self) -> Self:
        if not self.earliest_plausible_date < self.latest_plausible_date:
            raise ValueError("rules.earliest_plausible_date must be before rules.latest_plausible_date")
        return self


class Windows(StrictModel):
    long_days: int = Field(ge=1, le=366)
    velocity_days: int = Field(ge=1, le=366)
    late_history_days: int = Field(ge=1, le=3660)


class Memory(StrictModel):
    event_ids: int = Field(ge=1, le=10000)
    decisions: int = Field(ge=1, le=1000)
    purchases: int = Field(ge=1, le=1000)
    purchase_days: int = Field(ge=1, le=3660)


class DefaultProfile(StrictModel):
    segment: Literal["consumer", "merchant"] = "consumer"


class Policy(StrictModel):
    """A whole validated policy."""

    version: str = Field(min_length=1, max_length=64)
    timezone_offset_minutes: int = Field(ge=-14 * 60, le=14 * 60)
    rules: Rules
    windows: Windows
    memory: Memory
    default_profile: DefaultProfile
    score: ScorePolicy
    # The merchant scorecard, for products whose model is "merchant" (business_loan).
    merchant_score: ScorePolicy | None = None
    guardrails: Guardrails
    products: dict[Product, ProductPolicy]

    # Compiled on first use (see Factor.bin_table): product positions the engine reads per event.
    @cached_property
    def model_indices(self) -> dict[str, tuple[int, ...]]:
        """Per score model, the indices of the products it sizes (its repayment record)."""
        return {
            model: tuple(i for i, p in enumerate(PRODUCTS) if self.products[p].model == model)
            for model in ("consumer", "merchant")
        }

    @cached_property
    def blocking_indices(self) -> dict[Product, tuple[int, ...]]:
        """Per product, the indices of the products whose past due suspends it."""
        every = tuple(range(len(PRODUCTS)))
        return {
            name: every
            if p.overdue_blocks_from is None
            else tuple(PRODUCTS.index(b) for b in p.overdue_blocks_from)
            for name, p in self.products.items()
        }

    @model_validator(mode="after")
    def _regulatory(self) -> Self:
        if set(self.products) != set(PRODUCTS):
            raise ValueError(f"products must define exactly {', '.join(PRODUCTS)}")
        merchant_products = [name for name, p in self.products.items() if p.model == "merchant"]
        if merchant_products and self.merchant_score is None:
            raise ValueError(
                f"products {', '.join(merchant_products)} use the merchant model: give [merchant_score]"
            )
        cap = self.guardrails.max_apr
        if cap > Decimal("0.24"):
            raise ValueError(f"guardrails.max_apr {cap} is above the regulatory 24% cap")
        for name, product in self.products.items():
            for tier in product.apr_tiers:
                if tier.apr > cap:
                    raise ValueError(f"products.{name}: apr {tier.apr} is above guardrails.max_apr {cap}")
        return self
