"""Per-product policy: who is eligible, limit tiers (by score or by sales), terms and pricing."""

from __future__ import annotations

from decimal import Decimal
from functools import cached_property
from typing import Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from schemas.events import Product
from schemas.money import MoneyOrZero
from streams.policy.base import Rate, Score, StrictModel
from streams.policy.guardrails import Guardrails

__all__ = ["AprTier", "LimitTier", "ProductPolicy", "ShareTier"]


class LimitTier(StrictModel):
    min_score: Score
    limit: MoneyOrZero


class ShareTier(StrictModel):
    min_score: Score
    share: Rate


class AprTier(StrictModel):
    min_score: Score
    apr: Rate


def _ascending(tiers: list[Any], where: str) -> None:
    scores = [t.min_score for t in tiers]
    if scores != sorted(scores) or len(set(scores)) != len(scores):
        raise ValueError(f"{where} must ascend by min_score")


class ProductPolicy(StrictModel):
    eligibility: Literal["everyone", "invited", "merchants"]
    # Which score sizes and prices the product: the consumer scorecard ([score]) or the merchant
    # one ([merchant_score]), each read from the repayment record of its own products.
    model: Literal["consumer", "merchant"] = "consumer"
    # Past due on which products suspends this one (None: on any product).
    overdue_blocks_from: tuple[Product, ...] | None = None
    min_score: Score
    limit_tiers: list[LimitTier] = Field(default_factory=list)
    sales_share_tiers: list[ShareTier] = Field(default_factory=list)
    income_multiple: Decimal | None = Field(None, ge=0)
    no_income_limit: MoneyOrZero | None = None
    min_limit: MoneyOrZero = 0
    max_limit: MoneyOrZero
    min_amount: MoneyOrZero
    terms: list[Annotated[int, Field(ge=1, le=120)]] = Field(default_factory=list)
    apr_tiers: list[AprTier] = Field(default_factory=list)
    allow_partial: bool = False
    partial_step: MoneyOrZero = 1
    limit_step: MoneyOrZero = 1

    # Compiled on first use (see Factor.bin_table): the tiers as tuples, ratios as integers. The
    # engine sizes limits from them (streams.engine.limits._Sizing).
    @cached_property
    def limit_table(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return tuple(t.min_score for t in self.limit_tiers), tuple(t.limit for t in self.limit_tiers)

    @cached_property
    def share_table(self) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
        tiers = self.sales_share_tiers
        return tuple(t.min_score for t in tiers), tuple(t.share.as_integer_ratio() for t in tiers)

    @cached_property
    def income_ratio(self) -> tuple[int, int] | None:
        return None if self.income_multiple is None else self.income_multiple.as_integer_ratio()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _ascending(self.limit_tiers, "limit_tiers")
        _ascending(self.sales_share_tiers, "sales_share_tiers")
        _ascending(self.apr_tiers, "apr_tiers")
        if bool(self.limit_tiers) == bool(self.sales_share_tiers):
            raise ValueError(
                "give exactly one of limit_tiers (score-sized) or sales_share_tiers (sales-sized)"
            )
        if self.min_limit > self.max_limit:
            raise ValueError("min_limit must not exceed max_limit")
        if self.partial_step <= 0 or self.limit_step <= 0:
            raise ValueError("partial_step and limit_step must be greater than 0")
        if bool(self.terms) != bool(self.apr_tiers):
            raise ValueError("a product with terms needs apr_tiers (and one without terms, none)")
        return self

    def apr(self, score: int) -> Decimal:
        """The tier APR for a score (the highest tier whose min_score the score reaches); 0 if none."""
        rate = Decimal(0)
        for tier in self.apr_tiers:
            if score >= tier.min_score:
                rate = tier.apr
        return rate

    def priced_apr(self, score: int, guardrails: Guardrails) -> str:
        """The wire APR for a score: the tier rate clamped to the guardrails; "0" with no tiers."""
        if not self.apr_tiers:
            return "0"
        rate = min(guardrails.max_apr, max(guardrails.min_apr, self.apr(score)))
        return f"{rate:.4f}"
