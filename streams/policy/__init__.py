"""The credit policy: every number the engine uses, loaded from TOML and validated.

A rule is data here where it is a number or a threshold, and code in streams/engine where it is
logic. Modules by concern: ``scorecard`` (factors and features), ``products`` (eligibility, limit
tiers, terms, pricing), ``guardrails`` (regulatory caps), ``model`` (the whole Policy), ``loading``
(files, ``extends``, errors).
"""

from streams.policy.guardrails import Guardrails
from streams.policy.loading import (
    DEFAULT_POLICY_PATH,
    PolicyError,
    default_policy,
    load_policy,
    policy_with_overrides,
)
from streams.policy.model import Policy
from streams.policy.products import ProductPolicy
from streams.policy.scorecard import FEATURES, Feature

__all__ = [
    "DEFAULT_POLICY_PATH",
    "FEATURES",
    "Feature",
    "Guardrails",
    "Policy",
    "PolicyError",
    "ProductPolicy",
    "default_policy",
    "load_policy",
    "policy_with_overrides",
]
