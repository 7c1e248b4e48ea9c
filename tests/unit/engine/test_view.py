"""The engine's native view of a policy holds the policy's own values, one view per policy."""

from __future__ import annotations

import pytest

from schemas.events import PRODUCTS
from streams.engine.features import local_day
from streams.engine.view import policy_view
from streams.policy import DEFAULT_POLICY_PATH, FEATURES, Policy, load_policy

POLICIES = [load_policy(path) for path in sorted(DEFAULT_POLICY_PATH.parent.glob("*.toml"))]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.version)
def test_a_view_holds_the_values_of_its_policy(policy: Policy) -> None:
    view = policy_view(policy)
    assert view.policy is policy
    assert view.version == policy.version
    assert view.timezone_offset_seconds == policy.timezone_offset_minutes * 60
    assert (view.long_days, view.velocity_days, view.late_history_days) == (
        policy.windows.long_days,
        policy.windows.velocity_days,
        policy.windows.late_history_days,
    )
    memory = policy.memory
    assert (view.event_ids_kept, view.decisions_kept, view.purchases_kept, view.purchase_days) == (
        memory.event_ids,
        memory.decisions,
        memory.purchases,
        memory.purchase_days,
    )
    rules = policy.rules
    assert view.max_applications_24h == rules.max_applications_24h
    assert view.non_performing_days == rules.non_performing_days
    assert view.grace_days == rules.grace_days
    assert view.cooling_off_days == rules.cooling_off_days
    assert view.cooling_off_products == rules.cooling_off_products
    assert (view.velocity_applications, view.velocity_bnpl_purchases) == (
        rules.velocity_applications,
        rules.velocity_bnpl_purchases,
    )
    guard = policy.guardrails
    assert view.personal_loan_products == tuple(guard.personal_loan_products)
    assert view.personal_loan_cap == guard.personal_loan_cap
    assert view.guardrails is guard
    assert view.annual_income_divisor == guard.annual_income_divisor
    assert view.no_income_personal_loan_cap == guard.no_income_personal_loan_cap
    assert view.default_segment == policy.default_profile.segment
    assert view.consumer_card.card is policy.score
    cards = [
        (view.consumer_card, policy.score, "consumer"),
        (view.merchant_card, policy.merchant_score, "merchant"),
    ]
    for card, scorecard, model in cards:
        if scorecard is None:
            assert card is None
            continue
        assert card is not None and card.card is scorecard
        assert card.products == policy.model_indices[model]
        assert {FEATURES[i] for i, needed in enumerate(card.needs) if needed} == scorecard.features_used
        assert [(FEATURES[i], bounds, points) for i, bounds, points in card.factors] == list(
            scorecard.compiled
        )
        assert (card.base, card.minimum, card.maximum) == (
            scorecard.base,
            scorecard.minimum,
            scorecard.maximum,
        )
    assert view.blocking_indices == policy.blocking_indices
    for name in PRODUCTS:
        product, rules_of = view.products[name], policy.products[name]
        assert (product.eligibility, product.model, product.min_score) == (
            rules_of.eligibility,
            rules_of.model,
            rules_of.min_score,
        )
        assert (product.tier_scores, product.tier_limits) == rules_of.limit_table
        assert (product.share_scores, product.shares) == rules_of.share_table
        assert product.terms == tuple(rules_of.terms)
        assert (product.min_amount, product.partial_step, product.allow_partial) == (
            rules_of.min_amount,
            rules_of.partial_step,
            rules_of.allow_partial,
        )
        assert (product.max_limit, product.min_limit, product.limit_step) == (
            rules_of.max_limit,
            rules_of.min_limit,
            rules_of.limit_step,
        )
        assert product.sales_sized == bool(rules_of.sales_share_tiers)
        assert product.thin_file == (name in rules.thin_file_products)
        assert product.personal_loan == (name in guard.personal_loan_products)
        assert product.priced_apr(700, guard) == rules_of.priced_apr(700, guard)


def test_policies_that_alternate_each_keep_their_own_view() -> None:
    """A shadow challenger alternates with the champion, event by event."""
    champion, challenger = POLICIES[0], POLICIES[1]
    first = policy_view(champion)
    assert policy_view(challenger).policy is challenger
    assert policy_view(champion) is first
    assert policy_view(challenger) is policy_view(challenger)


def test_a_policy_in_another_time_zone_has_its_own_days() -> None:
    base = POLICIES[0]
    east = base.model_copy(update={"timezone_offset_minutes": 8 * 60})
    west = base.model_copy(update={"timezone_offset_minutes": -5 * 60})
    moment = 1_700_000_000  # 2023-11-14 22:13:20 UTC: the next day at UTC+8, the same at UTC-5
    assert local_day(moment, east) == local_day(moment, west) + 1
