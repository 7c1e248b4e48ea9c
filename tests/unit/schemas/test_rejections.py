"""Bad input is rejected with an error that names the offending field."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from schemas.codec import DecodeError, decode_event

GOOD: dict[str, dict[str, Any]] = {
    "purchase": {
        "event_id": "p-1",
        "type": "purchase",
        "user_id": "u-1",
        "occurred_at": "2026-03-03T19:30:00+08:00",
        "amount": "129.90",
        "merchant_id": "m-1",
        "merchant_category": "groceries",
        "funding": "credit",
    },
    "application": {
        "event_id": "a-1",
        "type": "application",
        "user_id": "u-1",
        "occurred_at": "2026-03-03T19:30:00Z",
        "product": "cash_loan",
        "amount": 8000,
        "term_months": 6,
    },
    "repayment": {
        "event_id": "r-1",
        "type": "repayment",
        "user_id": "u-1",
        "occurred_at": "2026-03-03T19:30:00+08:00",
        "product": "bnpl",
        "amount": "100",
        "due_date": "2026-03-10",
    },
    "delinquency": {
        "event_id": "d-1",
        "type": "delinquency",
        "user_id": "u-1",
        "occurred_at": "2026-03-03T19:30:00+08:00",
        "product": "bnpl",
        "days_past_due": 31,
        "amount_overdue": "0",
    },
    "account_opened": {
        "event_id": "o-1",
        "type": "account_opened",
        "user_id": "u-1",
        "occurred_at": "2026-03-03T19:30:00+08:00",
        "segment": "consumer",
        "monthly_income": "9000",
        "invited_products": ["installment_loan"],
    },
}


def decode(document: dict[str, Any]) -> DecodeError:
    result = decode_event(orjson.dumps(document))
    assert isinstance(result, DecodeError), f"accepted: {document}"
    return result


def raw_decode(text: bytes) -> DecodeError:
    result = decode_event(text)
    assert isinstance(result, DecodeError), f"accepted: {text!r}"
    return result


@pytest.mark.parametrize("event_type", sorted(GOOD))
def test_good_examples_are_accepted(event_type: str) -> None:
    assert not isinstance(decode_event(orjson.dumps(GOOD[event_type])), DecodeError)


# (event type, field, bad value as raw JSON text, words the error must contain)
BAD_VALUES = [
    ("purchase", "amount", b'"-5"', "greater than 0"),
    ("purchase", "amount", b"-5", "greater than 0"),
    ("purchase", "amount", b'"0"', "greater than 0"),
    ("purchase", "amount", b"0", "greater than 0"),
    ("purchase", "amount", b'"1.001"', "at most 2 decimal places"),
    ("purchase", "amount", b"1.001", "at most 2 decimal places"),
    ("purchase", "amount", b"1.0000000000000000001", "at most 2 decimal places"),
    ("purchase", "amount", b'"NaN"', "plain decimal"),
    ("purchase", "amount", b"NaN", "finite"),
    ("purchase", "amount", b'"Infinity"', "plain decimal"),
    ("purchase", "amount", b'"10000000.01"', "at most 10,000,000"),
    ("purchase", "amount", b"1e12", "at most 10,000,000"),
    ("purchase", "amount", b"true", "as a string or number"),
    ("purchase", "amount", b"[1]", "as a string or number"),
    ("purchase", "amount", b'"12,50"', "plain decimal"),
    ("purchase", "funding", b'"loan"', "'credit' or 'own'"),
    ("purchase", "merchant_id", b'""', "at least 1 character"),
    ("purchase", "merchant_id", b"42", "valid string"),
    ("purchase", "event_id", b'"' + b"x" * 65 + b'"', "at most 64 characters"),
    ("purchase", "event_id", b'""', "at least 1 character"),
    ("purchase", "user_id", b'"has space"', "pattern"),
    ("purchase", "user_id", b"7", "valid string"),
    ("purchase", "occurred_at", b'"2026-03-03T19:30:00"', "timezone"),
    ("purchase", "occurred_at", b'"yesterday"', "datetime"),
    ("purchase", "occurred_at", b'"2026-02-30T10:00:00Z"', "datetime"),
    ("purchase", "occurred_at", b"1772537400", "RFC 3339 string"),
    ("purchase", "schema_version", b"2", "less than or equal to 1"),
    ("application", "product", b'"bnpl"', "'cash_loan', 'installment_loan' or 'business_loan'"),
    ("application", "product", b'"mortgage"', "'cash_loan'"),
    ("application", "term_months", b'"6"', "valid integer"),
    ("application", "term_months", b"6.5", "valid integer"),
    ("application", "term_months", b"0", "greater than or equal to 1"),
    ("repayment", "due_date", b'"2026-13-01"', "date"),
    ("repayment", "due_date", b'"10/03/2026"', "date"),
    ("repayment", "product", b'"car_loan"', "'bnpl'"),
    ("delinquency", "days_past_due", b"-1", "greater than or equal to 0"),
    ("delinquency", "amount_overdue", b'"-0.01"', "0 or exactly 0"),
    ("account_opened", "segment", b'"government"', "'consumer' or 'merchant'"),
    ("account_opened", "monthly_income", b'"0"', "greater than 0"),
    ("account_opened", "invited_products", b'["payday_loan"]', "'bnpl'"),
]


@pytest.mark.parametrize(("event_type", "field", "value", "words"), BAD_VALUES)
def test_bad_value_is_rejected_naming_the_field(
    event_type: str, field: str, value: bytes, words: str
) -> None:
    document = orjson.dumps({**GOOD[event_type], field: "__PLACEHOLDER__"})
    error = raw_decode(document.replace(b'"__PLACEHOLDER__"', value))
    assert error.reason.startswith(f"{field}") or f"; {field}" in error.reason, error.reason
    assert words in error.reason, error.reason
    assert error.event_type == event_type


@pytest.mark.parametrize("field", ["event_id", "user_id", "occurred_at", "amount", "merchant_id", "funding"])
def test_missing_field_is_named(field: str) -> None:
    document = dict(GOOD["purchase"])
    del document[field]
    assert decode(document).reason == f"{field}: Field required"


def test_unknown_field_is_rejected_by_name() -> None:
    error = decode({**GOOD["purchase"], "amout": "5"})
    assert error.reason == "amout: unknown field (not in the contract)"


def test_every_problem_is_reported_not_just_the_first() -> None:
    error = decode({**GOOD["application"], "amount": "-1", "term_months": "x", "extra": 1})
    for field in ("amount", "term_months", "extra"):
        assert f"{field}:" in error.reason


def test_missing_and_unknown_type_say_which_types_exist() -> None:
    no_type = {k: v for k, v in GOOD["purchase"].items() if k != "type"}
    assert decode(no_type).reason.startswith("type: missing; expected one of account_opened")
    assert "unknown event type 'purchased'" in decode({**GOOD["purchase"], "type": "purchased"}).reason


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty message"),
        (None, "empty message"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"event_id": "\xc3\x28"}', "not UTF-8"),
        (b"[1, 2]", "expected a JSON object, got an array"),
        (b'"purchase"', "expected a JSON object, got a string"),
        (b"42", "expected a JSON object, got a number"),
        (b"null", "expected a JSON object, got null"),
        (b'{"event_id": ', "not valid JSON"),
        (b"not json at all", "not valid JSON"),
    ],
)
def test_undecodable_messages_say_why(raw: bytes | None, reason: str) -> None:
    result = decode_event(raw)
    assert isinstance(result, DecodeError)
    assert result.reason.startswith(reason), result.reason


def test_money_numbers_and_strings_decode_to_the_same_exact_fen() -> None:
    as_string = decode_event(orjson.dumps({**GOOD["purchase"], "amount": "0.07"}))
    as_number = decode_event(orjson.dumps(GOOD["purchase"]).replace(b'"129.90"', b"0.07"))
    assert not isinstance(as_string, DecodeError) and not isinstance(as_number, DecodeError)
    assert as_string.amount == as_number.amount == 7  # type: ignore[union-attr]
