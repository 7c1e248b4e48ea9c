"""Money: decimal yuan on the wire, integer fen (1/100 yuan) inside. Never float.

A wire amount is a JSON string ("12.50") or a JSON number (12.5) that the codec parses as an exact
Decimal, so a value such as 1.0000000000000000001 is rejected for its decimals instead of being
rounded to 1.00 by a float on the way in.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

__all__ = [
    "FEN_PER_YUAN",
    "MAX_AMOUNT_FEN",
    "Amount",
    "Money",
    "MoneyOrZero",
    "fen_to_yuan",
    "parse_yuan",
    "yuan",
]

FEN_PER_YUAN = 100
MAX_AMOUNT_YUAN = 10_000_000
MAX_AMOUNT_FEN = MAX_AMOUNT_YUAN * FEN_PER_YUAN
_PLAIN_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def parse_yuan(value: Any, *, allow_zero: bool = False) -> int:
    """Yuan amount from the wire -> integer fen. ValueError says what is wrong with the value."""
    # Fast path: the usual "129.90" (or an exact JSON number such as 129.9) in integer arithmetic.
    if type(value) is str or type(value) is Decimal:
        text = value if type(value) is str else str(value)
        whole, dot, cents = text.partition(".")
        if (
            text.isascii()
            and whole.isdigit()
            and len(whole) <= 8
            and (not dot or (cents.isdigit() and len(cents) <= 2))
        ):
            fen = int(whole) * FEN_PER_YUAN + (int(cents) * (10 if len(cents) == 1 else 1) if dot else 0)
            if 0 < fen <= MAX_AMOUNT_FEN or (allow_zero and fen == 0):
                return fen
    return _parse_yuan_exact(value, allow_zero)


def _parse_yuan_exact(value: Any, allow_zero: bool) -> int:
    """The general path, and the one that explains what is wrong."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal | float):
        raise ValueError(
            f"must be a decimal amount in yuan as a string or number, got {type(value).__name__}"
        )
    if isinstance(value, str):
        if not _PLAIN_DECIMAL.match(value):
            raise ValueError(f"must be a plain decimal such as '12.50', got {value!r}")
        amount = Decimal(value)
    elif isinstance(value, float):  # only reached by callers that built a dict by hand
        amount = Decimal(repr(value))
    else:
        amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"must be a finite amount, got {value!r}")
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)  # finite decimals have integer exponents
    if exponent < -2:
        raise ValueError(f"must have at most 2 decimal places (fen), got {value!r}")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise ValueError(f"must be greater than 0{' or exactly 0' if allow_zero else ''}, got {value!r}")
    if amount > MAX_AMOUNT_YUAN:
        raise ValueError(f"must be at most {MAX_AMOUNT_YUAN:,} yuan, got {value!r}")
    try:
        return int(amount * FEN_PER_YUAN)
    except InvalidOperation as exc:  # pragma: no cover - ruled out by the checks above
        raise ValueError(f"is not a valid amount: {value!r}") from exc


def fen_to_yuan(fen: int) -> str:
    """Integer fen -> the wire's decimal yuan string with exactly two decimals ("0.00", "-1.50")."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}{whole}.{cents:02d}"


def yuan(amount: str | int) -> int:
    """Readable fen literal for code and tests: yuan("12.50") == 1250."""
    return parse_yuan(str(amount), allow_zero=True)


def _non_negative(value: Any) -> int:
    return parse_yuan(value, allow_zero=True)


def _output_amount(value: Any) -> int:
    """Output amounts: the engine builds them from fen (int); read back from the wire they are yuan."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"must not be negative, got {value} fen")
        return value
    return parse_yuan(value, allow_zero=True)


_AMOUNT_SCHEMA = {
    "description": "Decimal yuan, at most 2 decimal places, at most 10,000,000.",
    "anyOf": [
        {"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,2})?$"},
        {"type": "number", "multipleOf": 0.01, "maximum": MAX_AMOUNT_YUAN},
    ],
}

Money = Annotated[
    int,
    PlainValidator(parse_yuan),
    PlainSerializer(fen_to_yuan, return_type=str),
    WithJsonSchema(
        {**_AMOUNT_SCHEMA, "description": "Decimal yuan greater than 0. " + _AMOUNT_SCHEMA["description"]}
    ),
]
"""A positive amount: yuan on the wire, fen inside."""

MoneyOrZero = Annotated[
    int,
    PlainValidator(_non_negative),
    PlainSerializer(fen_to_yuan, return_type=str),
    WithJsonSchema(
        {**_AMOUNT_SCHEMA, "description": "Decimal yuan, 0 or more. " + _AMOUNT_SCHEMA["description"]}
    ),
]
"""An amount that may be 0 (a cured delinquency's overdue amount; a declined decision's approval)."""

Amount = Annotated[
    int,
    PlainValidator(_output_amount),
    PlainSerializer(fen_to_yuan, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": r"^[0-9]+\.[0-9]{2}$", "description": "Decimal yuan, 2 places."}
    ),
]
"""An output amount: built from fen by the engine, always written as a yuan string ("0.00")."""
