"""The points scorecard: each policy factor turns one feature into points; the score is their sum
on top of the base, clamped to the policy's range. Reasons for a change are the factors whose points
moved most.
"""

from __future__ import annotations

from schemas.outputs import ScoreFactor
from streams.policy.scorecard import FEATURES, ScorePolicy

__all__ = ["CardView", "bins_reached", "score", "score_values", "top_factors"]


class CardView:
    """A scorecard as the engine scores with it: each factor's feature by its position in
    FEATURES (``streams.engine.features.feature_values``), and which features the card needs.
    Built once per policy (``streams.engine.view``)."""

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


def score(features: dict[str, float | None], card: ScorePolicy) -> tuple[int, list[int]]:
    """(score, points per factor in the card's order), from features by name; a feature that does
    not apply (None) scores 0."""
    return score_values([features.get(name) for name in FEATURES], CardView(card, ()))


def score_values(values: list[float | None], card: CardView) -> tuple[int, list[int]]:
    """``score`` from features by position in FEATURES (``feature_values``): the engine's path."""
    points: list[int] = []
    total = card.base  # summed in the loop: compiled, sum(points) is a call of the builtin
    for index, bounds, table in card.factors:
        value = values[index]
        earned = 0 if value is None else table[bins_reached(bounds, value)]
        points.append(earned)
        total += earned
    return max(card.minimum, min(card.maximum, total)), points


def bins_reached(bounds: tuple[float, ...], value: float) -> int:
    """``bisect_right(bounds, value)`` over ascending ``bounds``: how many of them ``value`` reaches,
    which is its bin (a scorecard factor's) or its tier (a limit's, by lowest score). A loop,
    compiled to native comparisons over a few bounds; the call into the bisect module and its
    object comparisons cost more than the search."""
    index = 0
    for bound in bounds:
        if value < bound:
            break
        index += 1
    return index


def top_factors(previous: list[int] | None, current: list[int], card: ScorePolicy) -> list[ScoreFactor]:
    """The factors that moved the score most (biggest change first; ties in policy order).

    For a first score, the factors that weigh most in it.
    """
    factors = card.factors
    if previous is None or len(previous) != len(current):
        weights = [abs(p) for p in current]
    else:
        weights = [abs(c - p) for p, c in zip(previous, current, strict=True)]
    ranked = sorted((i for i, w in enumerate(weights) if w), key=lambda i: -weights[i])
    return [factors[i].name for i in ranked[: card.top_factors]]
