"""Money conversions are exact: yuan text/number in, integer fen inside, two-decimal text out."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.money import MAX_AMOUNT_FEN, fen_to_yuan, parse_yuan


@pytest.mark.parametrize(
    ("wire", "fen"),
    [
        ("0.01", 1),
        ("12.5", 1250),
        ("12.50", 1250),
        ("12", 1200),
        (12, 1200),
        (Decimal("0.1"), 10),
        ("10000000", MAX_AMOUNT_FEN),
        (Decimal("1E+3"), 100000),
    ],
)
def test_parse_yuan(wire: str | int | Decimal, fen: int) -> None:
    assert parse_yuan(wire) == fen


@given(st.integers(min_value=1, max_value=MAX_AMOUNT_FEN))
def test_fen_round_trips_through_the_wire_text(fen: int) -> None:
    assert parse_yuan(fen_to_yuan(fen)) == fen
    assert parse_yuan(Decimal(fen_to_yuan(fen))) == fen


def test_fen_to_yuan_always_has_two_decimals() -> None:
    assert [fen_to_yuan(f) for f in (0, 1, 10, 100, 123456)] == ["0.00", "0.01", "0.10", "1.00", "1234.56"]


def test_zero_is_only_accepted_where_allowed() -> None:
    assert parse_yuan("0", allow_zero=True) == 0
    with pytest.raises(ValueError, match="greater than 0"):
        parse_yuan("0")
