"""The texts of reason codes, from the one file that holds them (reasons.toml)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Final, Literal

__all__ = ["KINDS", "LANGUAGES", "REASONS_FILE", "Kind", "Language", "all_texts", "reason_rows", "text_of"]

REASONS_FILE: Final = Path(__file__).resolve().parent / "reasons.toml"
Language = Literal["zh", "en"]
LANGUAGES: Final[tuple[Language, ...]] = ("zh", "en")
Kind = Literal["decision", "limit", "factor"]
KINDS: Final[tuple[Kind, ...]] = ("decision", "limit", "factor")


@cache
def all_texts() -> dict[str, dict[str, dict[str, str]]]:
    """kind -> code -> language -> text, as the file gives them."""
    with REASONS_FILE.open("rb") as file:
        return tomllib.load(file)


def text_of(kind: Kind, code: str, language: Language) -> str:
    """The text of one code; a code with no text reads as itself (a newer code than the file)."""
    return all_texts().get(kind, {}).get(code, {}).get(language, code)


def reason_rows(codes: Iterable[str], language: Language) -> list[dict[str, str]]:
    """Decision reason codes as people read them: each code with its text, in order."""
    return [{"code": str(code), "text": text_of("decision", str(code), language)} for code in codes]
