"""The points scorecard: each policy factor turns one feature into points; the score is their sum
on top of the base, clamped to the policy's range. Reasons for a change are the factors whose points
moved most.
"""

from __future__ import annotations

from schemas.outputs import ScoreFactor
from streams.policy.scorecard import ScorePolicy

__all__ = ["bins_reached", "score", "top_factors"]


def score(features: dict[str, float | None], card: ScorePolicy) -> tuple[int, list[int]]:
    """(score, points per factor in the card's order); a feature that does not apply (None) scores 0."""
    factors, base, minimum, maximum = card.scoring
    points: list[int] = []
    total = base  # summed in the loop: compiled, sum(points) is a call of the builtin
    for feature, bounds, table in factors:
        value = features[feature]
        earned = 0 if value is None else table[bins_reached(bounds, value)]
        points.append(earned)
        total += earned
    return max(minimum, min(maximum, total)), points


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
