"""Every JSON example in schemas/README.md is a valid event of the type it documents."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from schemas.codec import DecodeError, decode_event, decode_output, encode
from schemas.export import INPUT_MODELS, OUTPUT_MODELS, _type_name

README = Path(__file__).resolve().parents[3] / "schemas" / "README.md"
EXAMPLES = [block for block in re.findall(r"```json\n(.*?)```", README.read_text(), re.S)]
INPUT_TYPES = {_type_name(m) for m in INPUT_MODELS}
OUTPUT_TYPES = {_type_name(m) for m in OUTPUT_MODELS}


def test_the_readme_documents_every_event_type_with_an_example() -> None:
    documented = {orjson.loads(block)["type"] for block in EXAMPLES}
    assert documented == INPUT_TYPES | OUTPUT_TYPES


@pytest.mark.parametrize("block", EXAMPLES, ids=lambda b: str(orjson.loads(b)["type"]))
def test_example_validates(block: str) -> None:
    document = orjson.loads(block)
    if document["type"] in INPUT_TYPES:
        event = decode_event(block.encode())
        assert not isinstance(event, DecodeError), event
        assert event.type == document["type"]
    else:
        output = decode_output(block.encode())
        # Outputs round-trip: decoding and re-encoding gives the documented fields and values.
        assert orjson.loads(encode(output)) == document
