"""The credit policy: every number the engine uses, loaded from TOML and validated.

A rule is data here where it is a number or a threshold, and code in streams/engine where it is
logic. ``load_policy`` turns a bad file into a PolicyError naming the file, the key and the problem.
"""

from __future__ import annotations

import tomllib
import typing
from bisect import bisect_right
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.codec import format_validation_error
from schemas.events import PRODUCTS, Product
from schemas.money import MoneyOrZero
from schemas.outputs import ScoreFactor

__all__ = [
    "DEFAULT_POLICY_PATH",
    "FEATURES",
    "Policy",
    "PolicyError",
    "ProductPolicy",
    "default_policy",
    "load_policy",
    "policy_with_overrides",
]

DEFAULT_POLICY_PATH: Final = Path(__file__).resolve().parent / "default.toml"

Feature = Literal[
    "days_past_due",
    "worst_days_past_due_365d",
    "late_repayments_365d",
    "on_time_repayments",
    "utilisation_pct",
    "applications_7d",
    "refund_ratio_pct_90d",
    "monthly_income",
    "tenure_days",
    "spend_90d",
    "sales_90d",
]
FEATURES: Final = typing.get_args(Feature)
"""The features a scorecard factor may use (computed in streams.engine.features)."""
Rate = Annotated[Decimal, Field(ge=0, le=1, decimal_places=4)]
Score = Annotated[int, Field(ge=0, le=2000)]


class PolicyError(ValueError):
    """The policy file cannot be read or breaks a rule; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bin(_Strict):
    below: Decimal | None = None
    points: int


class Factor(_Strict):
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


class ScorePolicy(_Strict):
    base: int
    minimum: Score = 350
    maximum: Score = 950
    top_factors: int = Field(3, ge=1, le=11)
    factors: list[Factor] = Field(min_length=1)

    @model_validator(mode="after")
    def _range(self) -> Self:
        if not self.minimum < self.maximum:
            raise ValueError("score.minimum must be below score.maximum")
        names = [f.name for f in self.factors]
        if len(set(names)) != len(names):
            raise ValueError("score.factors: each factor name may appear once")
        return self


class LimitTier(_Strict):
    min_score: Score
    limit: MoneyOrZero


class ShareTier(_Strict):
    min_score: Score
    share: Rate


class AprTier(_Strict):
    min_score: Score
    apr: Rate


def _ascending(tiers: list[Any], where: str) -> None:
    scores = [t.min_score for t in tiers]
    if scores != sorted(scores) or len(set(scores)) != len(scores):
        raise ValueError(f"{where} must ascend by min_score")


class ProductPolicy(_Strict):
    eligibility: Literal["everyone", "invited", "merchants"]
    min_score: Score
    limit_tiers: list[LimitTier] = []
    sales_share_tiers: list[ShareTier] = []
    income_multiple: Decimal | None = Field(None, ge=0)
    no_income_limit: MoneyOrZero | None = None
    min_limit: MoneyOrZero = 0
    max_limit: MoneyOrZero
    min_amount: MoneyOrZero
    terms: list[Annotated[int, Field(ge=1, le=120)]] = []
    apr_tiers: list[AprTier] = []
    allow_partial: bool = False
    partial_step: MoneyOrZero = 1
    limit_step: MoneyOrZero = 1

    # Compiled on first use (see Factor.bin_table): tier lookups by bisection, ratios as integers.
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

    def tier_limit(self, score: int) -> int:
        """The score tier's limit in fen (0 below the first tier)."""
        scores, limits = self.limit_table
        index = bisect_right(scores, score)
        return limits[index - 1] if index else 0

    def sales_limit(self, score: int, sales: int) -> int:
        """The score tier's share of ``sales`` (fen), rounded down (0 below the first tier)."""
        scores, shares = self.share_table
        index = bisect_right(scores, score)
        if not index:
            return 0
        numerator, denominator = shares[index - 1]
        return sales * numerator // denominator

    def income_limit(self, monthly_income: int | None) -> int | None:
        """The income cap in fen: a multiple of monthly income, or the no-income limit; None if none."""
        if monthly_income is None:
            return self.no_income_limit
        ratio = self.income_ratio
        if ratio is None:
            return None
        return monthly_income * ratio[0] // ratio[1]

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


class Guardrails(_Strict):
    max_apr: Rate
    min_apr: Rate
    personal_loan_products: list[Product]
    personal_loan_cap: MoneyOrZero
    annual_income_divisor: int = Field(ge=1)
    no_income_personal_loan_cap: MoneyOrZero


class Rules(_Strict):
    max_applications_24h: int = Field(ge=0)
    non_performing_days: int = Field(ge=1)
    grace_days: int = Field(0, ge=0)


class Windows(_Strict):
    long_days: int = Field(ge=1, le=366)
    velocity_days: int = Field(ge=1, le=366)
    late_history_days: int = Field(ge=1, le=3660)


class Memory(_Strict):
    event_ids: int = Field(ge=1, le=10000)
    decisions: int = Field(ge=1, le=1000)
    purchases: int = Field(ge=1, le=1000)
    purchase_days: int = Field(ge=1, le=3660)


class DefaultProfile(_Strict):
    segment: Literal["consumer", "merchant"] = "consumer"


class Policy(_Strict):
    """A whole validated policy."""

    version: str = Field(min_length=1, max_length=64)
    timezone_offset_minutes: int = Field(ge=-14 * 60, le=14 * 60)
    rules: Rules
    windows: Windows
    memory: Memory
    default_profile: DefaultProfile
    score: ScorePolicy
    guardrails: Guardrails
    products: dict[Product, ProductPolicy]

    @model_validator(mode="after")
    def _regulatory(self) -> Self:
        if set(self.products) != set(PRODUCTS):
            raise ValueError(f"products must define exactly {', '.join(PRODUCTS)}")
        cap = self.guardrails.max_apr
        if cap > Decimal("0.24"):
            raise ValueError(f"guardrails.max_apr {cap} is above the regulatory 24% cap")
        for name, product in self.products.items():
            for tier in product.apr_tiers:
                if tier.apr > cap:
                    raise ValueError(f"products.{name}: apr {tier.apr} is above guardrails.max_apr {cap}")
        return self


def load_policy(path: Path | str | None = None) -> Policy:
    """Read and validate a policy file (the default policy when ``path`` is None).

    A file may start from another with ``extends = "default"`` (the packaged policy) or a path
    relative to itself, and give only what differs: tables merge key by key, values and arrays
    replace. A challenger is then a short, reviewable list of changes.
    """
    source = Path(path) if path is not None else DEFAULT_POLICY_PATH
    document = _read_with_bases(source, seen=())
    try:
        return Policy.model_validate(document)
    except ValidationError as exc:
        raise PolicyError(f"policy file {source}: {format_validation_error(exc)}") from exc


def _read_with_bases(source: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    try:
        document = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {source}: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(f"policy file {source} is not valid TOML: {exc}") from exc
    base = document.pop("extends", None)
    if base is None:
        return document
    if not isinstance(base, str):
        raise PolicyError(f'policy file {source}: extends must be "default" or a file path')
    base_path = DEFAULT_POLICY_PATH if base == "default" else (source.parent / base)
    if base_path.resolve() in seen:
        raise PolicyError(f"policy file {source}: extends {base!r} makes a cycle")
    merged = _read_with_bases(base_path, (*seen, source.resolve()))
    _merge(merged, document)
    return merged


def policy_with_overrides(overrides: dict[str, Any], base: Path | str | None = None) -> Policy:
    """A policy from a base file (the default one) with values replaced, as ``extends`` does."""
    document = _read_with_bases(Path(base) if base is not None else DEFAULT_POLICY_PATH, seen=())
    _merge(document, overrides)
    try:
        return Policy.model_validate(document)
    except ValidationError as exc:
        raise PolicyError(f"policy overrides: {format_validation_error(exc)}") from exc


def _merge(into: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


_DEFAULT: Policy | None = None


def default_policy() -> Policy:
    """The packaged default policy, loaded once."""
    global _DEFAULT  # noqa: PLW0603 - a cache of an immutable value
    if _DEFAULT is None:
        _DEFAULT = load_policy()
    return _DEFAULT
