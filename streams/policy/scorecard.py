"""The scorecard section: which feature each factor reads, and the points per bin.

Feature names say which policy window they count over (``windows.velocity_days`` for
``applications_in_velocity_window``), never a fixed number of days: the policy sets the windows.
"""

from __future__ import annotations

import typing
from bisect import bisect_right
from decimal import Decimal
from functools import cached_property
from typing import Final, Literal, Self

from pydantic import Field, model_validator

from schemas.outputs import ScoreFactor
from streams.policy.base import Score, StrictModel

__all__ = ["FEATURES", "Bin", "Factor", "Feature", "ScorePolicy"]

Feature = Literal[
    "days_past_due",
    "worst_days_past_due_in_late_history",  # windows.late_history_days
    "late_repayments_in_late_history",  # windows.late_history_days
    "on_time_repayments",
    "utilisation_pct",
    "applications_in_velocity_window",  # windows.velocity_days
    "refund_ratio_pct_in_long_window",  # windows.long_days
    "monthly_income",
    "tenure_days",
    "spend_in_long_window",  # windows.long_days
    "sales_in_long_window",  # windows.long_days
    "bnpl_purchases_in_velocity_window",  # windows.velocity_days
    "sales_stability_pct",  # windows.long_days: the weakest third of it against the strongest
    "shop_refund_ratio_pct_in_long_window",  # windows.long_days: a merchant's refunds / its sales
]
FEATURES: Final = typing.get_args(Feature)
"""The features a scorecard factor may use (computed in streams.engine.features)."""


class Bin(StrictModel):
    below: Decimal | None = None
    points: int


class Factor(StrictModel):
    name: ScoreFactor
    feature: Feature
    bins: list[Bin] = Field(min_length=1)

    # Compiled on first use into plain tuples (cached_property lives in the instance dict; pydantic's
    # private attributes cost microseconds per access, and this runs for every factor of every event).
    @cached_property
    def bin_table(self) -> tuple[tuple[float, ...], tuple[int, ...]]:
        """(upper bounds as floats, points): looked up by bisection."""
        return tuple(float(b.below) for b in self.bins if b.below is not None), tuple(
            b.points for b in self.bins
        )

    @model_validator(mode="after")
    def _bins_ascend(self) -> Self:
        bounds = [b.below for b in self.bins[:-1]]
        if any(b is None for b in bounds) or self.bins[-1].below is not None:
            raise ValueError(f"factor {self.name}: every bin but the last needs `below`; the last has none")
        if bounds != sorted(bounds):  # type: ignore[type-var]
            raise ValueError(f"factor {self.name}: bins must ascend by `below`")
        return self

    def points(self, value: float) -> int:
        """Points for a feature value: the first bin it is below, else the last."""
        bounds, points = self.bin_table
        return points[bisect_right(bounds, value)]


class ScorePolicy(StrictModel):
    base: int
    minimum: Score = 350
    maximum: Score = 950
    top_factors: int = Field(3, ge=1, le=14)
    factors: list[Factor] = Field(min_length=1)

    @cached_property
    def compiled(self) -> tuple[tuple[str, tuple[float, ...], tuple[int, ...]], ...]:
        """(feature, upper bounds, points) per factor in order: what scoring reads per event."""
        return tuple((factor.feature, *factor.bin_table) for factor in self.factors)

    @cached_property
    def scoring(self) -> tuple[tuple[tuple[str, tuple[float, ...], tuple[int, ...]], ...], int, int, int]:
        """(compiled factors, base, minimum, maximum): all the engine's score reads per event, in
        one attribute read of this model rather than four."""
        return self.compiled, self.base, self.minimum, self.maximum

    @cached_property
    def features_used(self) -> frozenset[str]:
        """The features this card's factors read: only these are computed per event."""
        return frozenset(factor.feature for factor in self.factors)

    @model_validator(mode="after")
    def _range(self) -> Self:
        if not self.minimum < self.maximum:
            raise ValueError("score.minimum must be below score.maximum")
        names = [f.name for f in self.factors]
        if len(set(names)) != len(names):
            raise ValueError("score.factors: each factor name may appear once")
        return self
