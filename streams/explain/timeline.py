"""`creditstream explain`: one user's timeline, readable by support staff and risk analysts.

It runs the same engine as the worker and replay over the user's events, and prints for each event
what it changed: decisions, scores, limits and offers, each with the texts of its reason codes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import orjson

from schemas.money import fen_to_yuan
from schemas.outputs import Decision, LimitChanged, OfferChanged, ScoreChanged
from streams.engine.state import UserState
from streams.explain.texts import Language, text_of
from streams.log_steps import replay_steps
from streams.policy import Policy

__all__ = ["TimelineEntry", "explain_user", "render"]


@dataclass
class TimelineEntry:
    """One event of the user's and what it changed, as lines of text."""

    line_number: int
    headline: str
    changes: list[str] = field(default_factory=list)


def explain_user(
    lines: Iterable[bytes], user_id: str, policy: Policy, language: Language
) -> Iterator[TimelineEntry]:
    """The user's events in log order, each with what it changed."""
    needle = orjson.dumps(user_id)  # the quoted id: a cheap filter before decoding
    kept: list[tuple[int, bytes]] = []

    def mine() -> Iterator[bytes]:
        for number, line in enumerate(lines, start=1):
            if needle in line:
                kept.append((number, line))
                yield line

    states: dict[str, UserState] = {}
    previous_offers: dict[str, tuple[str, tuple[str, ...]]] = {}
    for index, step in replay_steps(mine(), policy, states):
        if step.user_id != user_id:
            continue
        line_number, line = kept[index - 1]
        entry = TimelineEntry(line_number, f"line {line_number}: {_headline(line)}")
        if step.dead_letter_kind is not None:
            entry.changes.append(f"not applied ({step.dead_letter_kind}): sent to the dead-letter topic")
        elif step.duplicate:
            entry.changes.append("a redelivery: nothing changed")
        for output in step.engine_outputs:
            entry.changes.extend(_describe(output, language, previous_offers))
        yield entry


_SHOWN_FIELDS = (
    "product",
    "amount",
    "funding",
    "term_months",
    "due_date",
    "days_past_due",
    "status",
    "action",
)


def _headline(line: bytes) -> str:
    """The event as one line: when, what, and its telling fields."""
    try:
        document = orjson.loads(line)
        if isinstance(document, dict) and isinstance(document.get("record"), dict):
            document = orjson.loads(document.get("value", "null"))  # a `dump --records` line
    except orjson.JSONDecodeError:
        return "(not JSON)"
    if not isinstance(document, dict):
        return "(not an event)"
    shown = ", ".join(f"{name} {document[name]}" for name in _SHOWN_FIELDS if name in document)
    return f"{document.get('occurred_at', '?')} {document.get('type', '?')}" + (f": {shown}" if shown else "")


def _describe(
    output: object, language: Language, previous_offers: dict[str, tuple[str, tuple[str, ...]]]
) -> list[str]:
    if isinstance(output, Decision):
        approved, requested = fen_to_yuan(output.approved_amount), fen_to_yuan(output.requested_amount)
        price = f", APR {output.apr}" if output.apr != "0" else ""
        head = (
            f"decision on {output.product}: {output.outcome}, {approved} of {requested} (score "
            f"{output.score}, limit {fen_to_yuan(output.limit)}, available after "
            f"{fen_to_yuan(output.available_after)}{price})"
        )
        return [head] + [f"    {r}: {text_of('decision', str(r), language)}" for r in output.reasons]
    if isinstance(output, ScoreChanged):
        was = "none" if output.previous_score is None else str(output.previous_score)
        head = f"{output.model} score {was} -> {output.score}"
        return [head] + [f"    {f}: {text_of('factor', str(f), language)}" for f in output.reasons]
    if isinstance(output, LimitChanged):
        return [
            f"{output.product} limit {fen_to_yuan(output.previous_limit)} -> {fen_to_yuan(output.limit)}",
            f"    {output.reason}: {text_of('limit', str(output.reason), language)}",
        ]
    if isinstance(output, OfferChanged):
        lines = []
        for offer in output.offers:
            now = (offer.state, tuple(str(r) for r in offer.reasons))
            if previous_offers.get(offer.product) == now:
                continue
            previous_offers[offer.product] = now
            lines.append(f"{offer.product} offer: {offer.state}")
            lines.extend(f"    {r}: {text_of('decision', str(r), language)}" for r in offer.reasons)
        return lines
    return []


def render(entries: Iterable[TimelineEntry]) -> Iterator[str]:
    """The timeline as text lines."""
    for entry in entries:
        yield entry.headline
        for change in entry.changes:
            yield f"  {change}"
