"""Regulatory guardrails: caps that hold whatever the score says (annual rate, per-person balance)."""

from __future__ import annotations

from pydantic import Field

from schemas.events import Product
from schemas.money import MoneyOrZero
from streams.policy.base import Rate, StrictModel

__all__ = ["Guardrails"]


class Guardrails(StrictModel):
    max_apr: Rate
    min_apr: Rate
    personal_loan_products: list[Product]
    personal_loan_cap: MoneyOrZero
    annual_income_divisor: int = Field(ge=1)
    no_income_personal_loan_cap: MoneyOrZero
