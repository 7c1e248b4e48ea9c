"""Per-product limits: sized from the product's score, income and sales, then settled against the
previous limit so that a limit falls only on a risk signal, which the cut names.

Sizing (``candidate_limits``) gives what the policy would offer now. Settling (``settle_limit``)
keeps a higher previous limit unless a risk signal is present: past due, non-performing, frozen
or closed, velocity, falling income or sales. Using a line as offered is none of these, so drawing
a line in full and repaying it on time never cuts it, whatever the score does meanwhile.
"""

from __future__ import annotations

from typing import Any, Final

from schemas.events import PRODUCTS, Product
from schemas.outputs import LimitReason
from streams.engine.features import any_nonzero, day_in
from streams.engine.state import UserState
from streams.engine.view import ProductView, policy_view
from streams.policy import Policy

__all__ = [
    "Limit",
    "blocking_indices",
    "candidate_limits",
    "cooling_off",
    "eligible",
    "limits_now",
    "model_indices",
    "non_performing",
    "non_performing_for",
    "overdue_for",
    "personal_loan_income_cap",
    "settle_limit",
    "thin_file",
]

Limit = tuple[int, LimitReason]
# Reasons that close a product outright: these apply whatever the previous limit was.
_STRUCTURAL: Final = frozenset(
    {
        LimitReason.ACCOUNT_CLOSED,
        LimitReason.NOT_ELIGIBLE,
        LimitReason.NON_PERFORMING,
        LimitReason.COOLING_OFF,
        LimitReason.THIN_FILE,
    }
)


def blocking_indices(policy: Policy, product: Product) -> tuple[int, ...]:
    """Indices of the products whose past due suspends ``product`` (the policy's choice)."""
    return policy_view(policy).blocking_indices[product]


def model_indices(policy: Policy, model: str) -> tuple[int, ...]:
    """Indices of the products a score model sizes: its score reads their repayment record."""
    return policy.model_indices[model]


def non_performing(state: UserState, policy: Policy) -> bool:
    """90+ days past due on any product: the regulatory definition, which starts cooling-off."""
    return max(state.days_past_due) >= policy_view(policy).non_performing_days


def non_performing_for(state: UserState, product: Product, policy: Policy) -> bool:
    if not any_nonzero(state.days_past_due):
        return False  # the usual case, checked per product per event
    view = policy_view(policy)
    threshold = view.non_performing_days
    return any(state.days_past_due[i] >= threshold for i in view.blocking_indices[product])


def overdue_for(state: UserState, product: Product, policy: Policy) -> bool:
    if not any_nonzero(state.days_past_due):
        return False
    return any(state.days_past_due[i] > 0 for i in blocking_indices(policy, product))


def cooling_off(state: UserState, product: Product, policy: Policy) -> bool:
    """Whether a cured default still keeps this product closed (by the user's event-time clock)."""
    if state.cured_default_day < 0:  # the usual case, checked per product sized
        return False
    view = policy_view(policy)
    if product not in view.cooling_off_products:
        return False
    return day_in(state.clock, view) - state.cured_default_day < view.cooling_off_days


def thin_file(state: UserState) -> bool:
    """Too little to lend cash on: no declared income and no bill paid on time yet."""
    return state.monthly_income is None and not any_nonzero(state.on_time)


def eligible(state: UserState, product: Product, eligibility: str) -> bool:
    """Whether the user may have ``product`` under its ``eligibility`` rule (everyone, invited,
    merchants)."""
    if eligibility == "invited":
        return product in state.invited
    if eligibility == "merchants":
        return state.segment == "merchant"
    return True


def personal_loan_income_cap(state: UserState, policy: Policy) -> int:
    """The most a person's personal online loans may total by income (fen): a third of annual
    income, or the documented lower cap when income is unknown."""
    view = policy_view(policy)
    if state.monthly_income is None:
        return view.no_income_personal_loan_cap
    return state.monthly_income * 12 // view.annual_income_divisor


def limits_now(
    state: UserState, previous: list[int], scores: dict[str, int], policy: Policy, sales: int
) -> list[Limit]:
    """Sized, then settled against ``previous``: the limits to hold now, per product.

    Remembered on the state, per product, by everything its sizing and settling read, so that an
    event that moves none of it skips the work: status, segment, invitations,
    income, past due, the cooling-off and rebuild clock, today's late bills, the thin-file test,
    the velocity signals, the product's previous limit, the score of the product's model, and
    sales for a product sized from them (a merchant's sales, and so its merchant score, move with
    every sale; the consumer products read neither).
    """
    view = policy_view(policy)
    today = day_in(state.clock, view)
    cured = state.cured_default_day
    late = state.late_repayments
    # Typed as a variable-length tuple so that the compiled engine builds it once as a Python
    # tuple: a fixed-length one is kept unboxed and rebuilt at every comparison and store.
    common: tuple[object, ...] = (
        state.status,
        state.segment,
        tuple(state.invited),
        state.monthly_income,
        tuple(state.days_past_due),
        cured,
        today if cured >= 0 else -1,
        tuple([index for day, index in late[-4:] if day == today]) if late else (),
        any_nonzero(state.on_time),
        len(state.applications) >= view.velocity_applications,
        len(state.bnpl_purchases) >= view.velocity_bnpl_purchases,
    )
    # This user's last (policy, common inputs, per product (own inputs, limit)), under this very
    # policy (a shadow challenger decides on copies of the same states): the usual hit.
    memo = state.limits_memo
    own: tuple[Any, ...] = memo[2] if memo and memo[0] is policy and memo[1] == common else ()
    remembered: list[Any] = []
    products = view.products
    for index, product in enumerate(PRODUCTS):
        sizing = products[product]
        score = scores[sizing.model]  # the only score sizing reads (a merchant's moves with each sale)
        key: tuple[object, ...] = (previous[index], score, sales if sizing.sales_sized else -1)
        if own and own[index][0] == key:
            remembered.append(own[index])
            continue
        candidate = _candidate(state, product, sizing, scores, policy, sales)
        known = settle_limit(state, product, candidate, previous[index], scores, policy, sales, today)
        remembered.append((key, known))
    state.limits_memo = (policy, common, tuple(remembered))
    return [limit for _, limit in remembered]


def candidate_limits(state: UserState, scores: dict[str, int], policy: Policy, sales: int) -> list[Limit]:
    """(limit in fen, reason) per product, in PRODUCTS order, as the policy sizes them now;
    ``scores`` by model, ``sales`` the 90-day sales."""
    return [
        _candidate(state, product, sizing, scores, policy, sales)
        for product, sizing in policy_view(policy).products.items()
    ]


def _candidate(
    state: UserState,
    product: Product,
    sizing: ProductView,
    scores: dict[str, int],
    policy: Policy,
    sales: int,
) -> Limit:
    """(limit, reason) that ``sizing``, the product's rules in ``policy``, gives now."""
    if state.status == "closed":
        return 0, LimitReason.ACCOUNT_CLOSED
    if not eligible(state, product, sizing.eligibility):
        return 0, LimitReason.NOT_ELIGIBLE
    if non_performing_for(state, product, policy):
        return 0, LimitReason.NON_PERFORMING
    if cooling_off(state, product, policy):
        return 0, LimitReason.COOLING_OFF
    if sizing.thin_file and thin_file(state):
        return 0, LimitReason.THIN_FILE
    score = scores[sizing.model]
    if score < sizing.min_score:
        return 0, LimitReason.SCORE_TOO_LOW
    if sizing.sales_sized:
        limit, reason = sizing.sales_limit(score, sales), LimitReason.SALES_VOLUME
    else:
        limit, reason = sizing.tier_limit(score), LimitReason.SCORE_TIER
        income_cap = sizing.income_limit(state.monthly_income)
        if income_cap is not None and income_cap < limit:
            limit, reason = income_cap, LimitReason.INCOME_MULTIPLE
    if limit > sizing.max_limit:
        limit, reason = sizing.max_limit, LimitReason.PRODUCT_MAXIMUM
    thin_file_limit = sizing.thin_file_limit
    if thin_file_limit is not None and limit > thin_file_limit and thin_file(state):
        limit, reason = thin_file_limit, LimitReason.THIN_FILE
    rebuilt = _rebuilt(state, sizing, policy, limit)
    if rebuilt < limit:
        limit, reason = rebuilt, LimitReason.REBUILDING
    if sizing.personal_loan:
        # A limit the guardrails would never let be borrowed is not shown: the limit is borrowable.
        if sizing.personal_loan_cap < limit:
            limit, reason = sizing.personal_loan_cap, LimitReason.REGULATORY_CAP
        income_cap = personal_loan_income_cap(state, policy)
        if income_cap < limit:
            limit, reason = income_cap, LimitReason.INCOME_CAP
    limit -= limit % sizing.limit_step  # whole steps: small input changes do not move the limit
    if limit < sizing.min_limit:
        # A product with a floor (installment_loan: 5,000) is not offered below it; never raised to it,
        # which would override the income cap.
        return 0, reason
    return limit, reason


def _rebuilt(state: UserState, sizing: ProductView, policy: Policy, limit: int) -> int:
    """After cooling-off, the limit climbs from the lowest tier to the full ``limit`` over
    rebuild_days; otherwise ``limit`` itself."""
    days = sizing.rebuild_days
    if state.cured_default_day < 0 or not days:
        return limit
    view = policy_view(policy)
    since = day_in(state.clock, view) - state.cured_default_day - view.cooling_off_days
    floor = sizing.rebuild_floor
    if since >= days or limit <= floor:
        return limit
    return floor + (limit - floor) * max(0, since) // days


def settle_limit(
    state: UserState,
    product: Product,
    candidate: Limit,
    before: int,
    scores: dict[str, int],
    policy: Policy,
    sales: int,
    today: int,
) -> Limit:
    """A product's limit to hold. A candidate below the previous limit applies only on a risk
    signal, and the cut then names that signal. Otherwise the previous limit stays, within the
    ceilings that do not depend on the score (income, sales, product maximum, guardrails): a ceiling
    that has fallen below it cuts it, with INCOME_FELL, SALES_FELL or the ceiling's own reason."""
    limit, reason = candidate
    if limit >= before or reason in _STRUCTURAL:
        return candidate
    signal = _risk_signal(state, product, policy, today)
    sizing = policy_view(policy).products[product]
    if signal is None and sizing.sales_sized:
        # Sized from the shop's sales and scored from its operating record, in which using the
        # loan plays no part: a fall is the sales (or the record) falling.
        signal = LimitReason.SALES_FELL
    if signal is not None:
        return limit, signal
    best = {model: _UNBOUNDED_SCORE for model in scores}
    ceiling, ceiling_reason = _candidate(state, product, sizing, best, policy, sales)
    if ceiling >= before:
        return before, reason
    return max(limit, ceiling), _FELL.get(ceiling_reason, ceiling_reason)


_UNBOUNDED_SCORE: Final = 10_000  # above every tier: what only the ceilings allow
_FELL: Final = {
    LimitReason.INCOME_MULTIPLE: LimitReason.INCOME_FELL,
    LimitReason.INCOME_CAP: LimitReason.INCOME_FELL,
}


def _risk_signal(state: UserState, product: Product, policy: Policy, today: int) -> LimitReason | None:
    """The risk signal that allows cutting this product's limit now, or None."""
    view = policy_view(policy)
    if state.status == "frozen":
        return LimitReason.ACCOUNT_FROZEN
    blocks = view.blocking_indices[product]
    if any(state.days_past_due[i] for i in blocks):
        return LimitReason.OVERDUE
    if any(day == today and index in blocks for day, index in state.late_repayments[-4:]):
        return LimitReason.OVERDUE  # a bill paid late today: the user was past due
    if (
        len(state.applications) >= view.velocity_applications
        or len(state.bnpl_purchases) >= view.velocity_bnpl_purchases
    ):
        return LimitReason.VELOCITY
    return None
