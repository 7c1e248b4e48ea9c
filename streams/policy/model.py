"""The whole policy: rules, windows, memory bounds, the scorecard, guardrails and the products."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal, Self

from pydantic import Field, model_validator

from schemas.events import PRODUCTS, Product
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
    guardrails: Guardrails
    products: dict[Product, ProductPolicy]

    @model_validator(mode="after")
    def _regulatory(self) -> Self:
        if set(self.products) != set(PRODUCTS):
            raise ValueError(f"products must define exactly {', '.join(PRODUCTS)}")
        cap = self.guardrails.max_apr
        if cap > Decimal("0.24"):
            raise ValueError(f"guardrails.max_apr {cap} is above the regulatory 24% cap")
        for name, product in self.products.items():
            for tier in product.apr_tiers:
                if tier.apr > cap:
                    raise ValueError(f"products.{name}: apr {tier.apr} is above guardrails.max_apr {cap}")
        return self
