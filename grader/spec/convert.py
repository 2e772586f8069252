"""Between YAML and pydantic: a file's nodes as plain data, and pydantic's errors as lines.

pydantic validates plain data and names a mistake by its location (`('checks', 1,
'server_sends', 'expect')`); a person needs the file's line and the field path
(`checks[1].expect`). The YAML node tree, kept beside the data, gives the line; the models'
fields give the keys a misspelt key was probably meant to be.
"""

from __future__ import annotations

import difflib
import json
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from grader.errors import SpecProblem

_SCALAR_CONSTRUCTOR = yaml.SafeLoader("")

MAX_NODES = 100_000
"""More nodes than any lab needs: YAML aliases can make a small file expand without end."""


JSON_SCALARS = (str, int, float, bool, type(None))


def line_of(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def field_path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


class YamlData:
    """The plain data of one YAML document, with a problem for each thing data cannot hold.

    `problems` names duplicate keys, keys that are not text, YAML tags other than the plain
    types (`!!binary`, `!!python/...`, merge keys `<<`), values an explicit tag does not fit,
    text that is not Unicode, aliases that contain themselves, and nesting deeper than
    MAX_DEPTH; the data keeps the last of duplicate keys and leaves the others out.
    Raises TooLarge when aliases expand the document past MAX_NODES values or MAX_TEXT_BYTES.
    """

    def __init__(self, path: Path, root: yaml.Node) -> None:
        self.path = path
        self.problems: list[SpecProblem] = []
        self._nodes = 0
        self._text_bytes = 0
        self.data = self._data(root, "", ())

    def problem(self, node: yaml.Node | None, where: str, message: str) -> None:
        line = line_of(node) if node is not None else None
        self.problems.append(SpecProblem(self.path, line, where, message))

    def _data(self, node: yaml.Node, where: str, within: tuple[int, ...]) -> Any:
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise TooLarge(node, f"more than {MAX_NODES} values")
        if id(node) in within:
            self.problem(node, where, "a YAML alias contains itself")
            return None
        if len(within) >= MAX_DEPTH:
            self.problem(node, where, f"nested more than {MAX_DEPTH} levels deep")
            return None
        within = (*within, id(node))
        if node.tag not in PLAIN_TAGS:
            self.problem(node, where, unread_tag(node.tag))
            return None
        if isinstance(node, yaml.SequenceNode):
            return [
                self._data(item, field_path(where, i), within) for i, item in enumerate(node.value)
            ]
        if isinstance(node, yaml.MappingNode):
            mapping: dict[str, Any] = {}
            lines: dict[str, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag not in PLAIN_TAGS:
                    self.problem(key_node, where, unread_tag(key_node.tag))
                    continue
                key = self._data(key_node, where, within)
                if not isinstance(key, str):
                    self.problem(key_node, where, f"keys must be text, got {describe(key_node)}")
                    continue
                if key in mapping:
                    message = f"duplicate key (first on line {lines[key]})"
                    self.problem(key_node, field_path(where, key), message)
                lines.setdefault(key, line_of(key_node))
                mapping[key] = self._data(value_node, field_path(where, key), within)
            return mapping
        return self._scalar(node, where)

    def _scalar(self, node: yaml.Node, where: str) -> Any:
        self._text_bytes += len(node.value)
        if self._text_bytes > MAX_TEXT_BYTES:
            raise TooLarge(node, f"more than {MAX_TEXT_BYTES // (1024 * 1024)} MiB of text")
        try:
            value = _SCALAR_CONSTRUCTOR.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, KeyError, AttributeError, TypeError) as e:
            # An explicit tag the text does not fit (`!!float x`), or a number longer than
            # Python converts (4,300 digits).
            kind = node.tag.rpartition(":")[2]
            self.problem(node, where, f"not a valid {kind}: {node.value[:40]!r} ({e})")
            return None
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                self.problem(node, where, "not valid text: it holds a lone surrogate (\\ud800...)")
                return None
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)  # 10.0 is 10, as JSON Schema's integer takes it; floats take ints
        return value if isinstance(value, JSON_SCALARS) else node.value


PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq")
)
"""The YAML types a spec is written in; a timestamp (`2024-01-01`) is read as its text."""
MAX_DEPTH = 64
MAX_TEXT_BYTES = 16 * 1024 * 1024


def unread_tag(tag: str) -> str:
    if tag == "tag:yaml.org,2002:merge":
        return "YAML merge keys (<<) are not read in a spec: write the keys out"
    shown = tag.replace("tag:yaml.org,2002:", "!!")
    return f"the YAML tag {shown} is not read in a spec: write the value without it"


class TooLarge(Exception):
    """The document expands past MAX_NODES or MAX_TEXT_BYTES (raised by YamlData)."""

    def __init__(self, node: yaml.Node, what: str) -> None:
        super().__init__(what)
        self.node = node


def scalar_value(node: yaml.Node) -> Any:
    """A scalar node's value as JSON can hold it (a date stays the text written); None when
    it cannot be read."""
    try:
        value = _SCALAR_CONSTRUCTOR.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, KeyError, AttributeError, TypeError):
        return None
    return value if isinstance(value, JSON_SCALARS) else node.value


def as_json(data: Any) -> str:
    """`data` as JSON for pydantic's strict JSON mode, where an object fills a dataclass and an
    array a tuple, yet no text is read as a number. NaN and infinities pass as JSON5 does, for
    pydantic to refuse where a finite number is asked for."""
    return json.dumps(data, allow_nan=True)


@dataclass(frozen=True)
class Located:
    """Where a pydantic error location is in the file, and the model type that holds it."""

    node: yaml.Node
    key_node: yaml.Node | None
    where: str
    parent_type: Any
    found: bool


KeyIndex = dict[int, dict[str, tuple[yaml.Node, yaml.Node]]]
"""Each mapping node's entries by key (the last of duplicates), made as locate needs them."""


def entries(node: yaml.MappingNode, keys: KeyIndex) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    if id(node) not in keys:
        keys[id(node)] = {k.value: (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)}
    return keys[id(node)]


def locate(
    root: yaml.Node,
    model: type[BaseModel],
    loc: tuple[int | str, ...],
    keys: KeyIndex | None = None,
) -> Located:
    """Walks `loc` through the node tree and the model's field types together.

    A part that names nothing in the mapping is a union member's tag (skipped) unless it is
    the last: then it is a key the mapping lacks, and `found` is False.
    """
    node, key_node, where = root, None, ""
    tp: Any = model
    parent_type: Any = model
    found = True
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if last:
            parent_type = tp
        is_tag = is_union(tp)
        tp = step_type(tp, part)
        if is_tag and tp is not None:
            continue  # a union member's tag names no key: the error is the mapping's own
        if isinstance(part, int) and isinstance(node, yaml.SequenceNode):
            if part < len(node.value):
                node, key_node, where = node.value[part], None, field_path(where, part)
            continue
        if isinstance(part, str) and isinstance(node, yaml.MappingNode):
            entry = entries(node, keys if keys is not None else {}).get(part)
            if entry is not None:
                key_node, node = entry
                where = field_path(where, part)
            elif last:
                where, found = field_path(where, part), False
    return Located(node, key_node, where, parent_type, found)


def step_type(tp: Any, part: int | str) -> Any:
    """The type one location part further in: a field's, a list item's, or a union member's."""
    tp = plain_type(tp)
    origin = typing.get_origin(tp)
    if isinstance(part, int):
        return plain_type(typing.get_args(tp)[0]) if origin in (list, tuple) else None
    if origin in (types.UnionType, typing.Union):
        for member in typing.get_args(tp):
            if part in (getattr(member, "__name__", None), tag_of(member)):
                return member
        return None
    fields = fields_of(tp)
    return fields[part].annotation if part in fields else None


def is_union(tp: Any) -> bool:
    return typing.get_origin(plain_type(tp)) in (types.UnionType, typing.Union)


def plain_type(tp: Any) -> Any:
    """`tp` without Annotated and without `| None`."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        options = [t for t in typing.get_args(tp) if t is not type(None)]
        if len(options) == 1:
            return plain_type(options[0])
    return tp


def tag_of(model: Any) -> str | None:
    """The `kind` a check model stands for, from its `Literal` field."""
    kind = fields_of(model).get("kind")
    if kind is None or typing.get_origin(kind.annotation) is not typing.Literal:
        return None
    (tag,) = typing.get_args(kind.annotation)
    return str(tag)


def fields_of(tp: Any) -> dict[str, Any]:
    """The pydantic fields of a model or pydantic dataclass; {} for anything else."""
    fields = getattr(tp, "__pydantic_fields__", None)
    return dict(fields) if isinstance(fields, dict) else {}


def problems_from(
    error: ValidationError, root: yaml.Node, model: type[BaseModel], path: Path
) -> list[SpecProblem]:
    """One SpecProblem per mistake pydantic found, at its line, in the order of the file.

    A key missing beside a misspelling of it (`pionts` for `points`) is one mistake: the
    misspelt key is named, with its likely spelling, and the missing one is not.
    """
    found: dict[str, SpecProblem] = {}
    misspelt: set[str] = set()
    keys: KeyIndex = {}
    for detail in error.errors(include_url=False):
        loc = tuple(detail["loc"])
        kind = detail["type"]
        if kind == "union_tag_not_found":
            loc = (*loc, "kind")
            kind = "missing"
        at = locate(root, model, loc, keys)
        if kind == "missing":
            name = str(loc[-1])
            known = set(fields_of(plain_type(at.parent_type))) or {name}
            typo = misspelling(at.node, name, known)
            if typo is not None:
                key_node, key = typo
                where = field_path(parent_path(at.where), key)
                message = f"unknown key {key!r}: did you mean {name!r}?"
                found[where] = SpecProblem(path, line_of(key_node), where, message)
                misspelt.add(where)
                continue
            found.setdefault(
                at.where, SpecProblem(path, line_of(at.node), at.where, "missing required key")
            )
            continue
        if kind in ("extra_forbidden", "unexpected_keyword_argument"):
            if at.where in misspelt:
                continue
            known = set(fields_of(plain_type(at.parent_type)))
            node = at.key_node or at.node
            message = unknown_key(str(loc[-1]), known)
            found.setdefault(at.where, SpecProblem(path, line_of(node), at.where, message))
            continue
        node = at.node
        where = at.where
        if kind == "union_tag_invalid":
            kind_entry = locate(root, model, (*loc, "kind"), keys)
            node, where = kind_entry.node, kind_entry.where
            if not isinstance(node, yaml.ScalarNode) or not isinstance(scalar_value(node), str):
                shown = describe(node) if not isinstance(node, yaml.ScalarNode) else node.value
                message = f"expected the name of a check kind, got {shown}"
                found.setdefault(where, SpecProblem(path, line_of(node), where, message))
                continue
        message = message_for(kind, detail.get("input"), detail.get("ctx") or {})
        if kind in TEXT_TYPES and isinstance(detail.get("input"), bool):
            # YAML 1.1 reads yes, no, on and off as true and false.
            written = node.value if isinstance(node, yaml.ScalarNode) else ""
            message += (
                f' (YAML reads {written} as {str(detail["input"]).lower()}: write "{written}")'
            )
        if kind in BOUNDS:
            # The field's description says why the bound is there (the ephemeral ports...).
            field = fields_of(plain_type(at.parent_type)).get(str(loc[-1]))
            if field is not None and field.description:
                message = f"{message} ({field.description.rstrip('.')})"
        found.setdefault(where, SpecProblem(path, line_of(node), where, message))
    return sorted(found.values(), key=lambda p: (p.line or 0, p.field))


def parent_path(where: str) -> str:
    """`checks[1].points` -> `checks[1]`; `title` -> ``."""
    return where.rsplit(".", 1)[0] if "." in where else ""


def misspelling(mapping: yaml.Node, name: str, known: set[str]) -> tuple[yaml.Node, str] | None:
    """A key of `mapping` that is no known key and looks like the missing `name`."""
    if not isinstance(mapping, yaml.MappingNode):
        return None
    for key_node, _ in mapping.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if (
            isinstance(key, str)
            and key not in known
            and difflib.get_close_matches(key, [name], cutoff=0.75)
        ):
            return key_node, key
    return None


TEXT_TYPES = {"string_type", "bytes_type"}
BOUNDS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}

TYPE_NAMES = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "bytes_type": "text (bytes)",
    "dict_type": "a mapping",
    "dataclass_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
}

PATTERN_MESSAGES = {
    r"\S": "expected non-empty text",
    r"^[a-z0-9][a-z0-9-]*$": "use lower-case letters, digits and dashes",
    r"^([^/.][^/]*|\.[^/.][^/]*|\.\.[^/]+)$": "must be a plain file name, in no folder",
}


def message_for(kind: str, value: Any, ctx: dict[str, Any]) -> str:
    """Our words for one pydantic error type (pydantic's own are for programmers)."""
    shown = shown_value(value)
    if kind in TYPE_NAMES:
        return f"expected {TYPE_NAMES[kind]}, got {shown}"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}, got {shown}"
    if kind == "union_tag_invalid":
        return no_such_kind(str(ctx.get("tag")), str(ctx.get("expected_tags", "")))
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern"))
        return PATTERN_MESSAGES.get(pattern, f"must match {pattern}") + f", got {shown}"
    if kind == "greater_than":
        limit = ctx["gt"]
        return f"must be greater than {'zero' if limit == 0 else f'{limit:g}'}, got {shown}"
    if kind == "greater_than_equal":
        return f"must be {ctx['ge']:g} or more, got {shown}"
    if kind == "less_than":
        return f"must be less than {ctx['lt']:g}, got {shown}"
    if kind == "less_than_equal":
        return f"must be {ctx['le']:g} or less, got {shown}"
    if kind == "finite_number":
        return f"must be a finite number, got {shown}"
    if kind == "too_short":
        return f"must not be empty, got {shown}"
    if kind == "value_error":
        return str(ctx.get("error", "not a valid value"))
    return f"not valid ({kind}), got {shown}"


def no_such_kind(tag: str, expected_tags: str) -> str:
    known = [t.strip().strip("'") for t in expected_tags.split(",") if t.strip()]
    close = difflib.get_close_matches(tag, known, n=1, cutoff=0.6)
    hint = f": did you mean {close[0]!r}?" if close else ""
    return f"no check kind {tag!r}{hint} (known: {', '.join(known)})"


def shown_value(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return repr(value)


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
