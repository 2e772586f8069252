"""Turns YAML nodes into typed dataclasses, naming the line and field of every mistake.

Supported field types: str, int, float, bool, Literal[...], X | None, tuple[X, ...],
Payload and nested dataclasses. Anything else in a spec dataclass is a programming error.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from grader.errors import SpecError
from grader.spec.model import Payload

T = TypeVar("T")

_SCALAR_CONSTRUCTOR = yaml.SafeLoader("")


def line_of(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def field_path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


class Converter:
    """Converts nodes of one spec file; `path` is only used in error messages."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, node: yaml.Node | None, where: str, message: str) -> SpecError:
        return SpecError(self.path, line_of(node) if node is not None else None, where, message)

    def mapping_items(self, node: yaml.Node, where: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """The (key, key node, value node) entries of a mapping, refusing duplicate keys."""
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, where, f"expected a mapping, got {describe(node)}")
        seen: set[str] = set()
        items = []
        for key_node, value_node in node.value:
            key = self.scalar(key_node, where)
            if not isinstance(key, str):
                raise self.error(key_node, where, f"keys must be text, got {key!r}")
            if key in seen:
                raise self.error(key_node, field_path(where, key), "duplicate key")
            seen.add(key)
            items.append((key, key_node, value_node))
        return items

    def scalar(self, node: yaml.Node, where: str) -> object:
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, where, f"expected a single value, got {describe(node)}")
        try:
            return _SCALAR_CONSTRUCTOR.construct_object(node, deep=True)
        except yaml.YAMLError as e:
            raise self.error(node, where, f"unreadable value: {e}") from e

    def to_dataclass(self, cls: type[T], node: yaml.Node, where: str) -> T:
        """Builds `cls` from a mapping node; unknown, missing and mistyped keys are errors."""
        return self.to_dataclass_from_items(cls, self.mapping_items(node, where), node, where)

    def to_dataclass_from_items(
        self,
        cls: type[T],
        items: list[tuple[str, yaml.Node, yaml.Node]],
        node: yaml.Node,
        where: str,
        also_known: frozenset[str] = frozenset(),
    ) -> T:
        """`cls` from mapping `items`; `also_known` are keys the caller read itself (a
        check's common keys), offered when a key is misspelt."""
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        values: dict[str, Any] = {}
        for key, key_node, value_node in items:
            if key not in fields:
                message = unknown_key(key, {*fields, *also_known})
                raise self.error(key_node, field_path(where, key), message)
            values[key] = self.to_type(hints[key], value_node, field_path(where, key))
        for name, f in fields.items():
            no_default = (
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            )
            if name not in values and no_default:
                raise self.error(node, field_path(where, name), "missing required key")
        return cls(**values)

    def to_type(self, tp: Any, node: yaml.Node, where: str) -> Any:
        origin = typing.get_origin(tp)
        if dataclasses.is_dataclass(tp):
            return self.to_dataclass(tp, node, where)  # type: ignore[arg-type]
        if origin in (types.UnionType, typing.Union):
            options = [t for t in typing.get_args(tp) if t is not type(None)]
            if isinstance(node, yaml.ScalarNode) and self.scalar(node, where) is None:
                return None
            (only,) = options
            return self.to_type(only, node, where)
        if origin is tuple:
            item_type = typing.get_args(tp)[0]
            if not isinstance(node, yaml.SequenceNode):
                raise self.error(node, where, f"expected a list, got {describe(node)}")
            return tuple(
                self.to_type(item_type, item, field_path(where, i))
                for i, item in enumerate(node.value)
            )
        if origin is typing.Literal:
            allowed = typing.get_args(tp)
            value = self.scalar(node, where)
            if value not in allowed:
                choices = ", ".join(repr(a) for a in allowed)
                raise self.error(node, where, f"must be one of {choices}, got {value!r}")
            return value
        value = self.scalar(node, where)
        if tp is Payload:
            if not isinstance(value, str):
                raise self.error(node, where, f"expected text (bytes to send), got {value!r}")
            return Payload(value.encode("utf-8"))
        if tp is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if tp in (str, int, float, bool) and type(value) is tp:
            return value
        raise self.error(node, where, f"expected {tp.__name__}, got {value!r}")


def describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"{node.value!r}"


def unknown_key(key: str, known: set[str] | frozenset[str]) -> str:
    """`unknown key 'hiddn': did you mean 'hidden'?`, or the known keys when none is close."""
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    if close:
        return f"unknown key {key!r}: did you mean {close[0]!r}?"
    return f"unknown key {key!r} (known: {', '.join(sorted(known)) or 'none'})"
