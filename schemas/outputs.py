"""Output events: what creditstream publishes. Plain, frozen, serialisable records.

Field order is the wire order, and the engine builds the same records for the same input, so the
encoded bytes are deterministic (the basis of replay reproducing the live decisions byte for byte).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from schemas.events import Product
from schemas.money import Amount

__all__ = [
    "DeadLetter",
    "Decision",
    "DecisionOutcome",
    "LimitChanged",
    "LimitReason",
    "Offer",
    "OfferChanged",
    "OfferState",
    "Output",
    "Reason",
    "ScoreChanged",
    "ScoreFactor",
    "ScoreModel",
]


class Reason(StrEnum):
    """Why a decision was not a full approval. Readable by a person, stable for machines."""

    ACCOUNT_CLOSED = "ACCOUNT_CLOSED"  # the account is closed
    ACCOUNT_FROZEN = "ACCOUNT_FROZEN"  # the account is frozen
    OVERDUE = "OVERDUE"  # a product is past due: new credit is frozen until it is cured
    NOT_INVITED = "NOT_INVITED"  # installment_loan is for whitelisted users only
    NOT_MERCHANT = "NOT_MERCHANT"  # business_loan is for merchants only
    INVALID_TERM = "INVALID_TERM"  # the product does not offer that term
    BELOW_MINIMUM = "BELOW_MINIMUM"  # the request, or what could be offered, is below the product minimum
    VELOCITY = "VELOCITY"  # too many applications in 24 hours
    SCORE_TOO_LOW = "SCORE_TOO_LOW"  # the score is below the product's minimum
    INSUFFICIENT_LIMIT = "INSUFFICIENT_LIMIT"  # the product limit less outstanding does not cover it
    INCOME_CAP = "INCOME_CAP"  # personal loans at most a third of annual income (or the no-income cap)
    REGULATORY_CAP = "REGULATORY_CAP"  # personal online loans at most 200,000 yuan per person
    COOLING_OFF = "COOLING_OFF"  # a cured 90+ day default: no new cash or instalment credit for a while
    THIN_FILE = "THIN_FILE"  # no account and no repayment history yet: no cash or instalment line
    NON_PERFORMING = "NON_PERFORMING"  # 90+ days past due: suspended until cured
    NO_SALES = "NO_SALES"  # business_loan is sized from recent sales, and there are too few


class ScoreFactor(StrEnum):
    """Scorecard factors, named as reasons for a score change."""

    TENURE = "TENURE"
    INCOME = "INCOME"
    ON_TIME_REPAYMENTS = "ON_TIME_REPAYMENTS"
    LATE_REPAYMENTS = "LATE_REPAYMENTS"
    DAYS_PAST_DUE = "DAYS_PAST_DUE"
    WORST_DELINQUENCY = "WORST_DELINQUENCY"
    UTILISATION = "UTILISATION"
    APPLICATION_VELOCITY = "APPLICATION_VELOCITY"
    REFUND_RATIO = "REFUND_RATIO"
    SPEND_ACTIVITY = "SPEND_ACTIVITY"
    SALES_ACTIVITY = "SALES_ACTIVITY"
    SALES_STABILITY = "SALES_STABILITY"
    SHOP_REFUND_RATIO = "SHOP_REFUND_RATIO"
    BNPL_VELOCITY = "BNPL_VELOCITY"


class LimitReason(StrEnum):
    """What set a product's new limit."""

    SCORE_TIER = "SCORE_TIER"  # the score tier's limit
    INCOME_MULTIPLE = "INCOME_MULTIPLE"  # a multiple of monthly income (or the no-income cap)
    SALES_VOLUME = "SALES_VOLUME"  # a share of trailing 90-day sales (business_loan)
    PRODUCT_MAXIMUM = "PRODUCT_MAXIMUM"  # the product's maximum
    INCOME_CAP = "INCOME_CAP"  # personal loans: at most a third of annual income (or the no-income cap)
    REGULATORY_CAP = "REGULATORY_CAP"  # personal online loans: at most 200,000 yuan per person
    SCORE_TOO_LOW = "SCORE_TOO_LOW"  # below the product's minimum score: 0
    NOT_ELIGIBLE = "NOT_ELIGIBLE"  # not invited / not a merchant: 0
    NON_PERFORMING = "NON_PERFORMING"  # 90+ days past due: every limit 0 until cured
    COOLING_OFF = "COOLING_OFF"  # cash and instalment limits 0 for a while after a cured default
    ACCOUNT_CLOSED = "ACCOUNT_CLOSED"  # closed account: every limit 0
    # Cuts: a limit falls only on a risk signal, and the cut names it (using a line never cuts it).
    OVERDUE = "OVERDUE"  # past due (now, or a bill paid late) on a product that blocks this one
    ACCOUNT_FROZEN = "ACCOUNT_FROZEN"  # the account was frozen
    VELOCITY = "VELOCITY"  # heavy borrowing: many loan applications or bnpl purchases in a short window
    INCOME_FELL = "INCOME_FELL"  # declared income fell below what the limit was sized on
    SALES_FELL = "SALES_FELL"  # a merchant's sales (or its sales record) fell
    THIN_FILE = "THIN_FILE"  # no account and no repayment history: bnpl starts small, no cash line
    REBUILDING = "REBUILDING"  # after cooling-off, cash and instalment limits return step by step


DecisionOutcome = Literal["approved", "partial", "declined"]
Apr = Annotated[
    str, Field(pattern=r"^(0|0\.[0-9]{1,4})$", description='Annual rate as a decimal string, e.g. "0.1825".')
]


ScoreModel = Literal["consumer", "merchant"]


class _Output(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Decision(_Output):
    """The answer to an application or a credit purchase. Exactly one per request."""

    type: Literal["decision"] = "decision"
    decision_id: str = Field(
        description="Derived from user_id and the request's event_id: stable on redelivery."
    )
    request_event_id: str
    user_id: str
    product: Product
    outcome: DecisionOutcome
    requested_amount: Amount
    approved_amount: Amount = Field(description='"0.00" when declined.')
    apr: Apr = Field(description='"0" for bnpl.')
    term_months: int | None = Field(description="null for bnpl.")
    reasons: list[Reason] = Field(description="Empty only for a full approval.")
    score: int | None = Field(
        description="The score of score_model at decision time, within that model's range (350-950 in "
        "the shipped policies); null when the user has no score from that model (a consumer asking "
        "for business_loan, which the merchant model scores). Decisions written before creditstream 0.2 "
        "carried 0 there: read 0 as null."
    )
    score_model: ScoreModel = Field(
        "consumer",  # optional in the JSON Schema: decisions written before it stay valid
        description="Which model's score sized and priced this product: consumer (bnpl, cash_loan, "
        "installment_loan) or merchant (business_loan). Added within schema 1; absent in decisions "
        "written before creditstream 0.2, where the product says it (read as just so).",
    )
    limit: Amount = Field(description="The product limit this decision was taken against.")
    available_after: Amount = Field(
        description="limit minus the product's outstanding after this decision, >= 0."
    )
    decided_at: AwareDatetime = Field(description="The request's occurred_at.")
    policy_version: str

    @model_validator(mode="before")
    @classmethod
    def _model_of_an_older_decision(cls, data: Any) -> Any:
        """A decision written before score_model: its product names the model, as it did then."""
        if isinstance(data, dict) and "score_model" not in data and "product" in data:
            return {**data, "score_model": "merchant" if data["product"] == "business_loan" else "consumer"}
        return data


class ScoreChanged(_Output):
    """A user's score changed (the first score has previous_score null).

    ``model`` says which score: consumer (bnpl, cash_loan, installment_loan) or merchant
    (business_loan). Records from before the merchant model have no ``model``: consumer.
    """

    type: Literal["score_changed"] = "score_changed"
    user_id: str
    model: ScoreModel = "consumer"
    score: int
    previous_score: int | None
    cause_event_id: str
    reasons: list[ScoreFactor] = Field(description="The factors that moved the score most, biggest first.")
    changed_at: AwareDatetime
    policy_version: str


class LimitChanged(_Output):
    """A user's limit on one product changed."""

    type: Literal["limit_changed"] = "limit_changed"
    user_id: str
    product: Product
    limit: Amount
    previous_limit: Amount
    cause_event_id: str
    reason: LimitReason
    changed_at: AwareDatetime
    policy_version: str


OfferState = Literal["offered", "not_offered", "suspended"]


class Offer(_Output):
    """One product's offer: whether the user has it, the limit, and why not."""

    product: Product
    state: OfferState = Field(
        description="offered; not_offered (not eligible, thin file, score or sales too low, closed); "
        "suspended (frozen, past due, non-performing, cooling off, or a score below the product's "
        "minimum while a limit is held): offered again when that ends."
    )
    limit: Amount
    reasons: list[Reason] = Field(description="Why not offered or suspended; empty when offered.")


class OfferChanged(_Output):
    """A user's offers, whole: emitted when any product's offer changes, and on a user's first event.

    The record carries every product, so a compacted topic keeps each user's current offers.
    """

    type: Literal["offer_changed"] = "offer_changed"
    user_id: str
    offers: list[Offer]
    cause_event_id: str
    changed_at: AwareDatetime
    policy_version: str


class DeadLetter(_Output):
    """A message that could not be applied: where it came from, why, and the message itself."""

    type: Literal["dead_letter"] = "dead_letter"
    source_topic: str
    partition: int | None
    offset: int | None = Field(description="Kafka offset; in replay, the line number.")
    key: str | None = Field(description="The message key as text (the user_id), if any.")
    error: str = Field(description="What was wrong, field by field.")
    raw: str = Field(description="The original message (cut at 64 KiB): text, or base64 when not UTF-8.")
    raw_encoding: Literal["utf-8", "base64"]
    raw_truncated: bool
    received_at: datetime | None = Field(description="The Kafka record timestamp; null in replay.")


Output = Annotated[
    Decision | ScoreChanged | LimitChanged | OfferChanged | DeadLetter, Field(discriminator="type")
]
"""Any output event, told apart by ``type``."""

OUTPUT_ADAPTER: Final[TypeAdapter[Output]] = TypeAdapter(Output)
"""The one validator of output events."""
