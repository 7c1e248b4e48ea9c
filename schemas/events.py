"""Input events: what upstream systems send, one JSON object per Kafka message.

Every event names itself in ``type`` (the discriminator), carries an ``event_id`` (the idempotency
key), the ``user_id`` it is keyed by, and ``occurred_at`` (event time, RFC 3339 with an offset: the
engine's only clock). Unknown fields are rejected so that a typo never passes silently.
"""

from __future__ import annotations

import typing
from datetime import date, datetime
from typing import Annotated, Any, Final, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    TypeAdapter,
    model_validator,
)

from schemas.money import Money, MoneyOrZero, fen_to_yuan

__all__ = [
    "EVENT_ADAPTER",
    "INPUT_EVENT_TYPES",
    "PRODUCTS",
    "PRODUCT_INDEX",
    "AccountOpened",
    "AccountStatus",
    "Application",
    "Delinquency",
    "Event",
    "EventBase",
    "InvitationChanged",
    "LoanProduct",
    "Product",
    "Purchase",
    "Refund",
    "Repayment",
    "Sale",
    "SaleRefund",
]

Product = Literal["bnpl", "cash_loan", "installment_loan", "business_loan"]
LoanProduct = Literal["cash_loan", "installment_loan", "business_loan"]
PRODUCTS: tuple[Product, ...] = ("bnpl", "cash_loan", "installment_loan", "business_loan")
PRODUCT_INDEX: Final[dict[Product, int]] = {product: i for i, product in enumerate(PRODUCTS)}
"""Where each product sits in the engine's per-product lists (limits, balances): PRODUCTS order."""


def _text_only(value: Any) -> Any:
    """Dates and times must be RFC 3339 text: a bare number is not accepted as a timestamp."""
    if not isinstance(value, str | datetime | date):
        raise ValueError(f"must be an RFC 3339 string, got {type(value).__name__}")
    return value


EventId = Annotated[str, Strict(), StringConstraints(min_length=1, max_length=64)]
UserId = Annotated[str, Strict(), StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")]
OccurredAt = Annotated[
    AwareDatetime,
    BeforeValidator(_text_only),
    Field(description="When it happened, RFC 3339 with a UTC offset, e.g. 2026-03-01T10:15:00+08:00."),
]
DueDate = Annotated[date, BeforeValidator(_text_only), Field(description="ISO date, e.g. 2026-03-10.")]
Identifier = Annotated[str, Strict(), StringConstraints(min_length=1, max_length=64)]
Count = Annotated[int, Strict()]


class EventBase(BaseModel):
    """Fields every input event carries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: EventId = Field(
        description="Unique id of this event; a redelivery with the same id changes nothing."
    )
    user_id: UserId = Field(description="The user the event is about; the Kafka key of every topic.")
    occurred_at: OccurredAt
    schema_version: Count = Field(1, ge=1, le=1, description="Contract version; 1 is the only one so far.")


class AccountOpened(EventBase):
    """A user opened an account: who they are and what they are invited to."""

    type: Literal["account_opened"]
    segment: Literal["consumer", "merchant"]
    monthly_income: Money | None = Field(None, description="Declared monthly income in yuan, if known.")
    invited_products: list[Product] = Field(
        default_factory=list, max_length=4, description="Products the user is whitelisted for."
    )


class AccountStatus(EventBase):
    """The account's status changed (risk or customer action)."""

    type: Literal["account_status"]
    status: Literal["active", "frozen", "closed"]
    reason: Annotated[str, StringConstraints(max_length=256)] | None = None


class Purchase(EventBase):
    """A checkout purchase; a ``credit`` purchase is a bnpl authorisation request and gets a decision."""

    type: Literal["purchase"]
    amount: Money
    merchant_id: Identifier
    merchant_category: Identifier
    funding: Literal["credit", "own"]


class Refund(EventBase):
    """A merchant refunded (part of) an earlier purchase."""

    type: Literal["refund"]
    amount: Money
    purchase_event_id: EventId = Field(description="The event_id of the refunded purchase.")


class Sale(EventBase):
    """A merchant received a sale: the basis of business-loan limits."""

    type: Literal["sale"]
    amount: Money


class SaleRefund(EventBase):
    """A merchant refunded one of its own sales: its refund rate is part of the merchant model."""

    type: Literal["sale_refund"]
    amount: Money


class Repayment(EventBase):
    """A repayment of a product's bill; lateness is ``occurred_at`` against ``due_date``.

    ``amount`` is everything paid. It may be split into ``principal``, ``interest`` and ``fees``:
    only principal pays down the balance. Without a split, the whole amount is principal (what a
    repayment always meant). ``amount_due`` is the bill's total; it counts as paid on time once at
    least that much is paid against the same product and due date by the due date plus grace.
    """

    type: Literal["repayment"]
    product: Product
    amount: Money
    due_date: DueDate
    amount_due: Money | None = Field(
        None,
        description="The bill's total due (principal, interest and fees). Without it, the product's "
        "whole balance when the bill is first paid is taken as due.",
    )
    principal: MoneyOrZero | None = Field(
        None, description="The part of amount that is principal; default amount - interest - fees."
    )
    interest: MoneyOrZero = Field(0, description="The part of amount that is interest.")
    fees: MoneyOrZero = Field(0, description="The part of amount that is fees.")

    @model_validator(mode="after")
    def _split_adds_up(self) -> Self:
        principal = self.amount - self.interest - self.fees if self.principal is None else self.principal
        if principal < 0 or principal + self.interest + self.fees != self.amount:
            raise ValueError(
                "principal + interest + fees must equal amount "
                f"(amount {_yuan(self.amount)}, principal {_yuan(self.principal)}, "
                f"interest {_yuan(self.interest)}, fees {_yuan(self.fees)})"
            )
        return self

    @property
    def principal_paid(self) -> int:
        """The principal in fen: what pays down the balance."""
        return self.amount - self.interest - self.fees if self.principal is None else self.principal


def _yuan(fen: int | None) -> str:
    return "not given" if fen is None else fen_to_yuan(fen)


class InvitationChanged(EventBase):
    """An invitation to an invite-only product was granted or revoked after the account opened."""

    type: Literal["invitation_changed"]
    product: Product
    action: Literal["granted", "revoked"]


class Delinquency(EventBase):
    """The servicing system's report that an instalment is past due (0 days means cured)."""

    type: Literal["delinquency"]
    product: Product
    days_past_due: Count = Field(ge=0, le=36500)
    amount_overdue: MoneyOrZero


class Application(EventBase):
    """A loan application; it gets exactly one decision."""

    type: Literal["application"]
    product: LoanProduct
    amount: Money
    term_months: Count = Field(ge=1, le=120, description="Requested term; each product allows a few terms.")


Event = Annotated[
    AccountOpened
    | AccountStatus
    | Purchase
    | Refund
    | Sale
    | Repayment
    | Delinquency
    | Application
    | SaleRefund
    | InvitationChanged,
    Field(discriminator="type"),
]
"""Any input event, told apart by ``type``."""

EVENT_ADAPTER: Final[TypeAdapter[Event]] = TypeAdapter(Event)
"""The one validator of input events (building one costs milliseconds; share this one)."""

INPUT_EVENT_TYPES: Final[tuple[str, ...]] = tuple(
    typing.get_args(model.model_fields["type"].annotation)[0]
    for model in typing.get_args(typing.get_args(Event)[0])
)
"""Every input event ``type``, in the union's order."""
