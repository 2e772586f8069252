"""The JSON Schema of spec.yaml, generated from the spec dataclasses and the check kinds.

Editors use the shipped schema.json to validate and complete spec files; a test keeps it
equal to what this module generates:  python -m grader.spec.schema > grader/spec/schema.json
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any

from grader.checks import check_kinds
from grader.spec.model import Limits, Payload, Services, Timeouts

SCHEMA_ID = "https://socketlab.invalid/spec.schema.json"
PYTHON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def type_schema(tp: Any) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return object_schema(tp)
    if origin in (types.UnionType, typing.Union):
        options = [type_schema(t) for t in typing.get_args(tp) if t is not type(None)]
        return {"anyOf": [*options, {"type": "null"}]}
    if origin is tuple:
        return {"type": "array", "items": type_schema(typing.get_args(tp)[0])}
    if origin is typing.Literal:
        return {"enum": list(typing.get_args(tp))}
    if tp is Payload:
        return {"type": "string", "description": "bytes, written as UTF-8 text"}
    return {"type": PYTHON_TYPES[tp]}


def properties_of(cls: type) -> tuple[dict[str, Any], list[str]]:
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(cls):
        schema = type_schema(hints[f.name])
        if "doc" in f.metadata:
            schema["description"] = f.metadata["doc"]
        properties[f.name] = schema
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    return properties, required


def object_schema(cls: type) -> dict[str, Any]:
    properties, required = properties_of(cls)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


COMMON_CHECK_PROPERTIES: dict[str, Any] = {
    "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
    "title": {"type": "string", "minLength": 1},
    "points": {"type": "number", "minimum": 0},
    "hidden": {"type": "boolean", "description": "Shown to students only once published."},
    "feedback": {"type": "string", "description": "Extra advice shown when the check fails."},
}


def check_schema(kind_name: str) -> dict[str, Any]:
    kind = check_kinds()[kind_name]
    properties, required = properties_of(kind.params)
    return {
        "description": kind.description,
        "type": "object",
        "properties": {
            **COMMON_CHECK_PROPERTIES,
            "kind": {"const": kind_name},
            **properties,
        },
        "required": ["id", "title", "kind", "points", *required],
        "additionalProperties": False,
    }


def spec_schema() -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "socketlab lab spec (spec.yaml)",
        "type": "object",
        "properties": {
            "id": {"type": "string", "description": "The lab's directory name."},
            "title": {"type": "string", "minLength": 1},
            "services": object_schema(Services),
            "timeouts": object_schema(Timeouts),
            "limits": object_schema(Limits),
            "checks": {
                "type": "array",
                "minItems": 1,
                "items": {"oneOf": [check_schema(name) for name in sorted(check_kinds())]},
            },
        },
        "required": ["id", "title", "checks"],
        "additionalProperties": False,
    }


def schema_text() -> str:
    return json.dumps(spec_schema(), indent=2) + "\n"


if __name__ == "__main__":
    print(schema_text(), end="")
