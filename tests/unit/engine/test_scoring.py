"""streams.engine.scoring: the compiled score reads each factor's bins exactly as the policy
defines them (``Factor.points``: the first bin whose ``below`` is above the value)."""

from __future__ import annotations

from bisect import bisect_right

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.engine.scoring import bins_reached, score
from streams.policy import default_policy

POLICY = default_policy()
CARDS = [card for card in (POLICY.score, POLICY.merchant_score) if card is not None]
FEATURES = sorted({factor.feature for card in CARDS for factor in card.factors})
# Every bound itself (a value on a bound belongs to the bin above it), beside it, and anything.
BOUNDS = sorted(
    {float(b.below) for card in CARDS for factor in card.factors for b in factor.bins if b.below is not None}
)
values = st.one_of(
    st.sampled_from(BOUNDS),
    st.sampled_from(BOUNDS).map(lambda b: b - 0.01),
    st.sampled_from(BOUNDS).map(int),
    st.integers(min_value=-10, max_value=10**9),
    st.floats(min_value=-1e9, max_value=1e12, allow_nan=False),
    st.none(),
)


@given(st.fixed_dictionaries({name: values for name in FEATURES}))
def test_each_factor_scores_the_points_of_the_bin_its_value_falls_in(
    features: dict[str, float | None],
) -> None:
    for card in CARDS:
        total, points = score(features, card)
        expected = [
            0 if features[f.feature] is None else f.points(features[f.feature])  # type: ignore[arg-type]
            for f in card.factors
        ]
        assert points == expected
        assert total == max(card.minimum, min(card.maximum, card.base + sum(expected)))


@pytest.mark.parametrize("bounds", [(), (5.0,), (-1.5, 0.0, 2.5, 2.5, 10.0), (300, 450, 600, 750)])
def test_bins_reached_is_bisect_right_for_scores_and_feature_values(bounds: tuple[float, ...]) -> None:
    """Shared by a factor's bins (floats) and a limit's tiers (integer scores)."""
    for value in (-3, -1.5, -1.49, 0, 2.5, 3, 10.0, 299, 300, 301, 749, 750, 10_000):
        assert bins_reached(bounds, value) == bisect_right(bounds, value), (bounds, value)
