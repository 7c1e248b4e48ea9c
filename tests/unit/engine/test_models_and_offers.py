"""Per-product risk models and offer states (issue 11, points 7 and 8)."""

from __future__ import annotations

from schemas.outputs import LimitReason, OfferChanged, Reason, ScoreChanged, ScoreFactor
from streams.worker.user_view import user_view
from tests.unit.engine.builders import Timeline, decision_of, limit_changes, policy_with, score_changes


def offers_of(user: Timeline) -> dict[str, tuple[str, list[str]]]:
    assert user.state is not None
    products = ("bnpl", "cash_loan", "installment_loan", "business_loan")
    return {p: (o[0], list(o[1])) for p, o in zip(products, user.state.offers, strict=True)}


def offer_records(user: Timeline) -> list[OfferChanged]:
    return [o for o in user.outputs if isinstance(o, OfferChanged)]


def strong_merchant(user_id: str = "m-1") -> Timeline:
    """A merchant with 90 days of steady sales (about 300,000 yuan) and no consumer history."""
    merchant = Timeline(user_id=user_id)
    merchant.open(segment="merchant", income=None)
    for _ in range(90):
        merchant.at(days=1).sale("3300")
    return merchant


# -- 7. per-product models --------------------------------------------------------------------------


def test_business_loan_is_scored_by_the_merchant_model_from_operating_data() -> None:
    merchant = strong_merchant()
    assert merchant.state is not None
    merchant_changes = [c for c in score_changes(merchant.outputs) if c.model == "merchant"]
    assert merchant_changes and {ScoreFactor.SALES_ACTIVITY, ScoreFactor.SALES_STABILITY} & {
        f for c in merchant_changes for f in c.reasons
    }
    decision = decision_of(merchant.borrow("business_loan", "10000", term=6))
    assert decision.score == merchant.state.merchant_score != merchant.state.score


def test_a_shop_with_many_refunds_scores_lower_than_one_without() -> None:
    steady, refunding = strong_merchant("m-steady"), strong_merchant("m-refunds")
    for _ in range(10):
        refunding.send("sale_refund", amount="3000")
    assert steady.state is not None and refunding.state is not None
    assert refunding.state.merchant_score < steady.state.merchant_score
    assert refunding.state.score == steady.state.score  # the consumer score does not read the shop


def test_uneven_sales_score_lower_than_steady_sales_of_the_same_total() -> None:
    steady = strong_merchant("m-steady")
    burst = Timeline(user_id="m-burst")
    burst.open(segment="merchant", income=None)
    burst.at(days=89).sale(str(3300 * 90))
    burst.at(days=1).sale("1")
    assert steady.state is not None and burst.state is not None
    assert burst.state.merchant_score < steady.state.merchant_score


def test_being_past_due_on_bnpl_does_not_block_the_merchant_loan_unless_the_policy_says_so() -> None:
    merchant = strong_merchant()
    decision_of(merchant.buy("100"))
    merchant.at(days=40).overdue("bnpl", 10, "100")
    assert offers_of(merchant)["bnpl"] == ("suspended", ["OVERDUE"])
    assert offers_of(merchant)["business_loan"][0] == "offered"
    assert decision_of(merchant.borrow("business_loan", "5000", term=6)).outcome == "approved"

    strict = strong_merchant()
    strict.policy = policy_with(
        {"products": {"business_loan": {"overdue_blocks_from": ["bnpl", "business_loan"]}}}
    )
    decision_of(strict.buy("100"))
    strict.at(days=40).overdue("bnpl", 10, "100")
    assert offers_of(strict)["business_loan"] == ("suspended", ["OVERDUE"])
    assert Reason.OVERDUE in decision_of(strict.borrow("business_loan", "5000", term=6)).reasons


def test_a_burst_of_bnpl_purchases_is_a_risk_signal() -> None:
    user = Timeline()
    user.open(income="30000")
    before = user.score
    for _ in range(user.policy.rules.velocity_bnpl_purchases):
        decision_of(user.at(hours=3).buy("10"))
    assert user.score < before
    factors = {f for c in score_changes(user.outputs) for f in c.reasons}
    assert ScoreFactor.BNPL_VELOCITY in factors
    assert any(
        c.reason == LimitReason.VELOCITY and c.limit < c.previous_limit for c in limit_changes(user.outputs)
    )


def test_an_invitation_granted_after_opening_opens_the_product_and_revoking_closes_it() -> None:
    user = Timeline()
    user.open(income="15000")
    assert offers_of(user)["installment_loan"] == ("not_offered", ["NOT_INVITED"])
    user.at(days=1).send("invitation_changed", product="installment_loan", action="granted")
    assert offers_of(user)["installment_loan"] == ("offered", [])
    assert decision_of(user.borrow("installment_loan", "5000", term=6)).outcome == "approved"
    changes = limit_changes(
        user.at(days=1).send("invitation_changed", product="installment_loan", action="revoked").outputs
    )
    assert [(c.product, c.limit, c.reason) for c in changes] == [
        ("installment_loan", 0, LimitReason.NOT_ELIGIBLE)
    ]
    assert offers_of(user)["installment_loan"] == ("not_offered", ["NOT_INVITED"])
    assert user.outstanding("installment_loan") > 0  # what is owed stays owed


# -- 8. offers ----------------------------------------------------------------------------------------


def test_a_users_first_event_emits_the_whole_offer_picture() -> None:
    user = Timeline()
    records = [o for o in user.open(income="15000").outputs if isinstance(o, OfferChanged)]
    assert len(records) == 1
    assert [(o.product, o.state) for o in records[0].offers] == [
        ("bnpl", "offered"),
        ("cash_loan", "offered"),
        ("installment_loan", "not_offered"),
        ("business_loan", "not_offered"),
    ]
    assert records[0].offers[3].reasons == [Reason.NOT_MERCHANT]


def test_offers_are_sent_only_when_they_change() -> None:
    user = Timeline()
    user.open(income="15000")
    assert [o for o in user.at(days=1).buy("1", funding="own").outputs if isinstance(o, OfferChanged)] == []


def test_a_merchant_with_strong_sales_and_no_consumer_history_has_the_business_loan_not_the_cash_line() -> (
    None
):
    merchant = strong_merchant()
    offers = offers_of(merchant)
    assert offers["business_loan"] == ("offered", [])
    assert offers["cash_loan"] == ("not_offered", ["THIN_FILE"])
    latest = offer_records(merchant)[-1]
    assert {o.product: o.state for o in latest.offers}["business_loan"] == "offered"
    assert merchant.limit("business_loan") > 0


def test_going_past_due_suspends_what_was_offered_and_curing_restores_it() -> None:
    user = Timeline()
    user.open(income="15000")
    decision_of(user.buy("500"))
    user.at(days=35).overdue("bnpl", 5, "500")
    assert offers_of(user)["bnpl"] == ("suspended", ["OVERDUE"])
    assert offers_of(user)["cash_loan"] == ("suspended", ["OVERDUE"])
    assert user.state is not None
    assert user_view(user.state, user.policy)["products"]["bnpl"]["available"] == "0.00"
    user.repay("bnpl", "500", due_in_days=-5)
    user.at(hours=1).overdue("bnpl", 0)
    assert offers_of(user)["bnpl"] == ("offered", []) and offers_of(user)["cash_loan"] == ("offered", [])
    states = [{o.product: o.state for o in r.offers}["bnpl"] for r in offer_records(user)]
    assert states[-2:] == ["suspended", "offered"]


def test_a_frozen_account_is_suspended_and_a_closed_one_not_offered() -> None:
    user = Timeline()
    user.open(income="15000")
    user.status("frozen")
    assert {state for state, _ in offers_of(user).values()} == {"suspended", "not_offered"}
    assert offers_of(user)["bnpl"] == ("suspended", ["ACCOUNT_FROZEN"])
    user.status("closed")
    assert offers_of(user)["bnpl"] == ("not_offered", ["ACCOUNT_CLOSED"])
    assert Reason.ACCOUNT_CLOSED in decision_of(user.buy("1")).reasons


def test_score_changes_name_their_model() -> None:
    merchant = strong_merchant()
    models = {c.model for c in merchant.outputs if isinstance(c, ScoreChanged)}
    assert models == {"consumer", "merchant"}
