"""The shipped JSON Schema is current and every lab's spec validates against it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from grader.spec.schema import schema_text
from tests.submissions import REPOSITORY

SCHEMA_FILE = REPOSITORY / "grader" / "spec" / "schema.json"
LAB_SPECS = sorted((REPOSITORY / "labs").glob("*/spec.yaml"))


def test_shipped_schema_matches_the_spec_model() -> None:
    assert SCHEMA_FILE.read_text() == schema_text(), (
        "regenerate it: python -m grader.spec.schema > grader/spec/schema.json"
    )


@pytest.mark.parametrize("spec", LAB_SPECS, ids=lambda p: p.parent.name)
def test_lab_spec_validates_against_the_schema(spec: Path) -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.validate(yaml.safe_load(spec.read_text()), schema)


def test_schema_rejects_an_unknown_check_key() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    spec = yaml.safe_load(LAB_SPECS[0].read_text())
    spec["checks"][0]["pointz"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(spec, schema)
