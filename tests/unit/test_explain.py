"""Explanations (issue 11, point 9): one file of texts for every reason code, the user view in the
reader's language, and `creditstream explain`, a user's readable timeline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from schemas.outputs import LimitReason, Reason, ScoreFactor
from streams.explain.texts import LANGUAGES, all_texts, text_of
from streams.worker.user_view import user_view
from tests.unit.engine.builders import Timeline

CODES: dict[str, set[str]] = {
    "decision": {str(c) for c in Reason},
    "limit": {str(c) for c in LimitReason},
    "factor": {str(c) for c in ScoreFactor},
}


@pytest.mark.parametrize("kind", sorted(CODES))
def test_every_code_has_a_text_in_each_language_and_every_text_a_code(kind: str) -> None:
    texts = all_texts()[kind]
    assert set(texts) == CODES[kind]
    for code, by_language in texts.items():
        assert set(by_language) == set(LANGUAGES), code
        assert all(len(text) >= 4 for text in by_language.values()), code


def test_the_user_view_gives_each_products_offer_with_reasons_in_the_language_asked() -> None:
    user = Timeline()
    user.buy("1", funding="own")  # known by one purchase: a thin file
    assert user.state is not None
    view = user_view(user.state, user.policy, "zh")
    cash = view["products"]["cash_loan"]
    assert cash["offer"] == "not_offered" and cash["available"] == "0.00"
    assert cash["reasons"] == [{"code": "THIN_FILE", "text": text_of("decision", "THIN_FILE", "zh")}]
    assert "信用记录" in cash["reasons"][0]["text"]
    assert user_view(user.state, user.policy, "en")["products"]["bnpl"]["offer"] == "offered"


def explain(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams", "explain", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.fixture
def log(tmp_path: Path) -> Path:
    at = "2026-01-0{}T10:00:00+08:00"
    events = [
        {"event_id": "o1", "type": "account_opened", "user_id": "u1", "occurred_at": at.format(1),
         "segment": "consumer", "monthly_income": "15000"},
        {"event_id": "o2", "type": "account_opened", "user_id": "u2", "occurred_at": at.format(1),
         "segment": "consumer"},
        {"event_id": "a1", "type": "application", "user_id": "u1", "occurred_at": at.format(2),
         "product": "installment_loan", "amount": "5000", "term_months": 6},
        {"event_id": "d1", "type": "delinquency", "user_id": "u1", "occurred_at": at.format(3),
         "product": "bnpl", "days_past_due": 3, "amount_overdue": "10"},
    ]  # fmt: skip
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events) + b"not json\n")
    return path


def test_explain_prints_each_event_of_the_user_and_what_it_changed_with_texts(log: Path) -> None:
    result = explain(log, "--user", "u1", "--lang", "en")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    headlines = [line for line in lines if line.startswith("line ")]
    assert [h.split(":")[0] for h in headlines] == ["line 1", "line 3", "line 4"]  # u2's line 2 is not shown
    text = result.stdout
    assert "decision on installment_loan: declined" in text
    assert f"NOT_INVITED: {text_of('decision', 'NOT_INVITED', 'en')}" in text
    assert "bnpl offer: suspended" in text and f"OVERDUE: {text_of('decision', 'OVERDUE', 'en')}" in text
    assert "consumer score none -> " in text


def test_explain_speaks_chinese_when_asked(log: Path) -> None:
    result = explain(log, "--user", "u1", "--lang", "zh")
    assert result.returncode == 0 and text_of("decision", "NOT_INVITED", "zh") in result.stdout


def test_explain_says_clearly_what_is_wrong(log: Path) -> None:
    unknown = explain(log, "--user", "nobody")
    assert unknown.returncode == 1 and "no events of user 'nobody'" in unknown.stderr
    bad_language = explain(log, "--user", "u1", "--lang", "fr")
    assert bad_language.returncode == 2 and "--lang must be one of zh, en" in bad_language.stderr
