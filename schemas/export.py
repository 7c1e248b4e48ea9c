"""Export the contracts as JSON Schema files under schemas/json/, and check them for drift.

The checked-in files are what upstream teams read and validate against; a test fails when they no
longer match the models, and ``creditstream schemas export`` regenerates them.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel

from schemas.events import (
    EVENT_ADAPTER,
    AccountOpened,
    AccountStatus,
    Application,
    Delinquency,
    InvitationChanged,
    Purchase,
    Refund,
    Repayment,
    Sale,
    SaleRefund,
)
from schemas.outputs import OUTPUT_ADAPTER, DeadLetter, Decision, LimitChanged, OfferChanged, ScoreChanged
from schemas.topics import ALL_TOPICS

__all__ = ["SCHEMA_DIR", "build_schema_files", "check_schema_files", "write_schema_files"]

SCHEMA_DIR: Final = Path(__file__).resolve().parent / "json"
_ID_BASE: Final = "https://creditstream.example/schemas/v1/"
INPUT_MODELS: Final[tuple[type[BaseModel], ...]] = (
    AccountOpened,
    AccountStatus,
    Purchase,
    Refund,
    Sale,
    Repayment,
    Delinquency,
    Application,
    SaleRefund,
    InvitationChanged,
)
OUTPUT_MODELS: Final[tuple[type[BaseModel], ...]] = (
    Decision,
    ScoreChanged,
    LimitChanged,
    OfferChanged,
    DeadLetter,
)


def _type_name(model: type[BaseModel]) -> str:
    """The model's ``type`` literal, e.g. "purchase"."""
    (name,) = typing.get_args(model.model_fields["type"].annotation)
    return str(name)


def _document(schema: dict[str, Any], relative: str) -> dict[str, Any]:
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": _ID_BASE + relative, **schema}


def build_schema_files() -> dict[str, str]:
    """Relative path -> file text, for every exported schema and the topic catalogue."""
    files: dict[str, Any] = {}
    for model in INPUT_MODELS:
        relative = f"input/{_type_name(model)}.json"
        files[relative] = _document(model.model_json_schema(mode="validation"), relative)
    for model in OUTPUT_MODELS:
        relative = f"output/{_type_name(model)}.json"
        files[relative] = _document(model.model_json_schema(mode="serialization"), relative)
    files["input-event.json"] = _document(
        {"title": "InputEvent", **EVENT_ADAPTER.json_schema(mode="validation")}, "input-event.json"
    )
    files["output-event.json"] = _document(
        {"title": "OutputEvent", **OUTPUT_ADAPTER.json_schema(mode="serialization")}, "output-event.json"
    )
    files["topics.json"] = {
        "topics": [
            {
                "name": t.name,
                "direction": t.direction,
                "key": t.key,
                "event_types": list(t.event_types),
                "cleanup_policy": t.cleanup_policy,
                "retention_ms": t.retention_ms,
                "description": t.description,
            }
            for t in ALL_TOPICS
        ]
    }
    return {path: json.dumps(doc, indent=2, sort_keys=False) + "\n" for path, doc in sorted(files.items())}


def write_schema_files(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema file; returns the paths written."""
    written = []
    for relative, text in build_schema_files().items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def check_schema_files(directory: Path = SCHEMA_DIR) -> list[str]:
    """The relative paths whose checked-in text differs from the models (or is missing)."""
    drifted = []
    for relative, text in build_schema_files().items():
        path = directory / relative
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            drifted.append(relative)
    return drifted
