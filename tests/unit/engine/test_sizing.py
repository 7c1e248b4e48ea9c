"""streams.engine.limits sizes each product from native copies of the policy's rules (the policy
view's products, streams.engine.view): they give what the policy's tiers say (written out here
from the tiers themselves), for every product of every packaged policy."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from schemas.events import PRODUCTS
from streams.engine.view import policy_view
from streams.policy import DEFAULT_POLICY_PATH, load_policy

POLICIES = [load_policy(path) for path in sorted(DEFAULT_POLICY_PATH.parent.glob("*.toml"))]
# Each tier's lowest score, on it and just below it, and anything in range.
TIER_SCORES = sorted(
    {
        tier
        for policy in POLICIES
        for product in policy.products.values()
        for tier in (*product.limit_table[0], *product.share_table[0])
    }
)
scores = st.one_of(
    st.sampled_from(TIER_SCORES), st.sampled_from(TIER_SCORES).map(lambda s: s - 1), st.integers(0, 1_100)
)
fen = st.integers(min_value=0, max_value=10**11)


@given(scores, fen, st.one_of(st.none(), fen))
def test_native_sizing_gives_what_the_policy_gives(score: int, sales: int, income: int | None) -> None:
    assert len(POLICIES) >= 3
    for policy in POLICIES:
        for product in PRODUCTS:
            sizing = policy_view(policy).products[product]
            rules = policy.products[product]
            # The highest tier whose min_score the score reaches.
            limits = [t.limit for t in rules.limit_tiers if t.min_score <= score]
            shares = [t.share for t in rules.sales_share_tiers if t.min_score <= score]
            assert sizing.tier_limit(score) == (limits[-1] if limits else 0)
            assert sizing.sales_limit(score, sales) == (int(sales * shares[-1]) if shares else 0)
            if income is None:
                assert sizing.income_limit(income) == rules.no_income_limit
            elif rules.income_multiple is None:
                assert sizing.income_limit(income) is None
            else:
                assert sizing.income_limit(income) == int(income * rules.income_multiple)
            assert (sizing.model, sizing.min_score, sizing.max_limit) == (
                rules.model,
                rules.min_score,
                rules.max_limit,
            )


def test_a_policy_is_sized_once_and_each_policy_apart() -> None:
    first, second = POLICIES[0], POLICIES[1]
    assert policy_view(first).products is policy_view(first).products
    assert policy_view(first).products is not policy_view(second).products
