"""The checked-in JSON Schema files match the models (regenerate: creditstream schemas export)."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.export import SCHEMA_DIR, build_schema_files, check_schema_files, write_schema_files


def test_checked_in_schemas_match_the_models() -> None:
    drifted = check_schema_files()
    assert drifted == [], f"schemas/json is stale for {drifted}: run `creditstream schemas export`"


def test_drift_is_detected(tmp_path: Path) -> None:
    write_schema_files(tmp_path)
    assert check_schema_files(tmp_path) == []
    purchase = tmp_path / "input" / "purchase.json"
    document = json.loads(purchase.read_text())
    del document["properties"]["funding"]
    purchase.write_text(json.dumps(document))
    (tmp_path / "output" / "decision.json").unlink()
    assert check_schema_files(tmp_path) == ["input/purchase.json", "output/decision.json"]


def test_input_schemas_forbid_unknown_fields_and_require_the_common_ones() -> None:
    for relative, text in build_schema_files().items():
        if relative.startswith("input/"):
            document = json.loads(text)
            assert document["additionalProperties"] is False, relative
            assert {"event_id", "type", "user_id", "occurred_at"} <= set(document["required"]), relative
    assert (SCHEMA_DIR / "topics.json").exists()
