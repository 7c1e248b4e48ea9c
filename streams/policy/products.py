"""Per-product policy: who is eligible, limit tiers (by score or by sales), terms and pricing."""

from __future__ import annotations

import itertools
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


def _priced_by_risk(tiers: list[AprTier], min_score: int) -> None:
    """Price follows risk: every score the product lends to has a tier, and a higher score never
    pays more. A gap below the first tier once priced a 540 at the best rate (issue 36)."""
    if not tiers:
        return
    if tiers[0].min_score > min_score:
        raise ValueError(
            f"apr_tiers start at {tiers[0].min_score}, above the product's min_score {min_score}: "
            f"scores {min_score}..{tiers[0].min_score - 1} would have no price; "
            f"start the first tier at {min_score} or below"
        )
    for lower, higher in itertools.pairwise(tiers):
        if higher.apr > lower.apr:
            raise ValueError(
                f"apr_tiers: a score of {higher.min_score} would pay {higher.apr}, more than "
                f"{lower.apr} at {lower.min_score}; rates must not rise with the score"
            )


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
        _priced_by_risk(self.apr_tiers, self.min_score)
        return self

    def apr(self, score: int) -> Decimal:
        """The tier APR for a score: the highest tier whose min_score the score reaches. A score
        below every tier pays the riskiest tier's rate, never less (0 only with no tiers at all):
        the cheapest credit must never go to the riskiest borrowers. A loaded policy has a tier
        at or below min_score, so an approval never needs this fallback (``_priced_by_risk``)."""
        if not self.apr_tiers:
            return Decimal(0)
        rate = self.apr_tiers[0].apr
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
