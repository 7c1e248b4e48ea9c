"""The decision's score in the contract (issue 36): a score of a named model, or null; never 0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.codec import decode_output, encode
from schemas.outputs import Decision

SCHEMA = Path(__file__).resolve().parents[3] / "schemas" / "json" / "output" / "decision.json"
TODAY = {
    "type": "decision", "decision_id": "d-1", "request_event_id": "ap-1", "user_id": "u-1",
    "product": "business_loan", "outcome": "declined", "requested_amount": "5000.00",
    "approved_amount": "0.00", "apr": "0", "term_months": 6, "reasons": ["NOT_MERCHANT"],
    "score": None, "score_model": "merchant", "limit": "0.00", "available_after": "0.00",
    "decided_at": "2026-03-10T14:00:00+08:00", "policy_version": "2026.12-default",
}  # fmt: skip


def test_the_exported_schema_says_a_score_is_an_integer_or_null_and_names_its_model() -> None:
    properties = json.loads(SCHEMA.read_text())["properties"]
    assert {option["type"] for option in properties["score"]["anyOf"]} == {"integer", "null"}
    assert "null when the user has no score from that model" in properties["score"]["description"]
    assert properties["score_model"]["enum"] == ["consumer", "merchant"]


def test_a_decision_without_a_score_round_trips_as_null() -> None:
    decision = Decision.model_validate(TODAY)
    wire = encode(decision)
    assert b'"score":null,"score_model":"merchant"' in wire
    assert decode_output(wire) == decision


def test_a_decision_written_before_score_model_still_reads() -> None:
    """Consumers keep working: a 0.1 decision (score 0, no score_model) is still valid."""
    old = {key: value for key, value in TODAY.items() if key != "score_model"} | {"score": 0}
    decision = Decision.model_validate(old)
    assert decision.score == 0 and decision.score_model == "merchant"  # business_loan's model then
    cash = Decision.model_validate(old | {"product": "cash_loan", "score": 612})
    assert cash.score_model == "consumer"
    assert "score_model" not in json.loads(SCHEMA.read_text())["required"]  # valid without it


def test_a_score_model_outside_the_contract_is_refused() -> None:
    with pytest.raises(ValidationError, match="score_model"):
        Decision.model_validate(TODAY | {"score_model": "bureau"})
