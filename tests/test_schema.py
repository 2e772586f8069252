"""The shipped JSON Schema is current and every lab's spec validates against it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def _properties(schema: object) -> list[tuple[str, dict[str, object]]]:
    """Every (name, schema) under a `properties` keyword anywhere in `schema`, but in the
    conditions of `if`, which only test a value."""
    found: list[tuple[str, dict[str, object]]] = []
    if isinstance(schema, dict):
        for name, value in schema.get("properties", {}).items():
            found.append((name, value))
        for key, value in schema.items():
            if key != "if":
                found.extend(_properties(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(_properties(value))
    return found


def test_every_property_of_the_schema_has_a_description() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    undescribed = sorted(
        {name for name, value in _properties(schema) if not value.get("description")}
    )
    assert undescribed == []


def _editor_errors(change: Callable[[dict[str, Any]], None]) -> list[jsonschema.ValidationError]:
    """What an editor that reads the schema reports for lab 01's spec after `change`."""
    schema = json.loads(SCHEMA_FILE.read_text())
    spec = yaml.safe_load(LAB_SPECS[0].read_text())
    change(spec)
    return list(jsonschema.Draft202012Validator(schema).iter_errors(spec))


def test_a_misspelt_key_in_a_check_is_one_error_in_an_editor() -> None:
    def misspell_points(spec: dict[str, Any]) -> None:
        check = spec["checks"][2]
        check["pionts"] = check.pop("points")

    (error,) = _editor_errors(misspell_points)
    assert list(error.absolute_path) == ["checks", 2] and "'pionts'" in error.message


def test_a_check_missing_a_key_is_one_error_against_its_own_kind() -> None:
    (error,) = _editor_errors(lambda spec: spec["checks"][2].pop("points"))
    assert list(error.absolute_path) == ["checks", 2] and "'points'" in error.message


def test_an_unknown_check_kind_is_one_error_at_the_kind() -> None:
    (error,) = _editor_errors(lambda spec: spec["checks"][1].update(kind="server_says"))
    assert list(error.absolute_path) == ["checks", 1, "kind"]


def test_a_wrong_value_type_is_one_error_at_the_field() -> None:
    (error,) = _editor_errors(lambda spec: spec["timeouts"].update(start_s="ten"))
    assert list(error.absolute_path) == ["timeouts", "start_s"]


def test_a_mistake_in_an_optional_key_is_named_in_an_editor() -> None:
    (error,) = _editor_errors(lambda spec: spec["services"]["server"].update(grading_port="x"))
    assert list(error.absolute_path) == ["services", "server", "grading_port"]


def test_a_check_that_is_not_a_mapping_is_one_error_in_an_editor() -> None:
    (error,) = _editor_errors(lambda spec: spec["checks"].__setitem__(1, "server-handshake"))
    assert list(error.absolute_path) == ["checks", 1]


def test_socketlab_schema_prints_the_shipped_schema(capsys: pytest.CaptureFixture[str]) -> None:
    from grader.cli import main

    assert main(["schema"]) == 0
    assert capsys.readouterr().out == SCHEMA_FILE.read_text()
