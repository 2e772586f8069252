"""Reads a spec.yaml into a LabSpec, or fails naming the file, line and field of every mistake.

The shape of a spec is grader.spec.document's pydantic models; this module adds what no
single field can say: the lab's id names its directory, check ids are unique, a check's
kind has the services it needs, a server has a port. Every problem found is reported at
once, so a lab directory copied under a new name gets its `id` error beside the others.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pydantic
import yaml

from grader.checks import check_kinds
from grader.errors import SpecError, SpecProblem
from grader.spec.convert import (
    TooLarge,
    YamlData,
    as_json,
    field_path,
    line_of,
    locate,
    problems_from,
)
from grader.spec.document import hidden_checks_document, lab_document, one_check
from grader.spec.model import CheckSpec, LabSpec

PROBLEMS_SHOWN = 50
"""A file with more problems is named with its first ones: fixing those is the start."""


def load_spec(path: Path, hidden_checks: Path | None = None) -> LabSpec:
    """The lab of the spec.yaml at `path`, with the checks of `hidden_checks` added.

    `hidden_checks` is a private YAML file an instructor keeps out of the students'
    repository: `lab: <id>` and `checks:` in the spec's own form, every one of them hidden
    (`hidden: true` may be left out; `hidden: false` is refused). Raises SpecError naming
    every problem found in the first file that has any, each with its file, line and field.
    """
    path = Path(path)
    lab = SpecFile(path, "spec").lab()
    if hidden_checks is None:
        return lab
    return SpecFile(Path(hidden_checks), "hidden-checks file").hidden_checks(lab)


class SpecFile:
    """One spec or hidden-checks file: its YAML nodes, its data, and the problems found."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.root = yaml_root(path, what)
        try:
            read = YamlData(path, self.root)
        except TooLarge as e:
            raise SpecError(path, line_of(e.node), "", f"the {what} is too large: {e}") from e
        self.data: Any = read.data
        self.problems: list[SpecProblem] = list(read.problems)

    def problem(self, node: yaml.Node, where: str, message: str) -> None:
        self.problems.append(SpecProblem(self.path, line_of(node), where, message))

    def validated(self, model: type[pydantic.BaseModel]) -> Any:
        """The data as `model`, or None with its problems recorded."""
        try:
            return model.model_validate_json(as_json(self.data), strict=True)
        except pydantic.ValidationError as e:
            self.problems.extend(problems_from(e, self.root, model, self.path))
            return None

    def node_at(self, *loc: int | str) -> yaml.Node:
        return locate(self.root, lab_document(), loc).node

    def raise_problems(self) -> None:
        if self.problems:
            ordered = sorted(self.problems, key=lambda p: (p.line or 0, p.field))
            if len(ordered) > PROBLEMS_SHOWN:
                more = len(ordered) - PROBLEMS_SHOWN
                last = SpecProblem(self.path, None, "", f"and {more} more problems")
                ordered = [*ordered[:PROBLEMS_SHOWN], last]
            raise SpecError.of(ordered)

    def lab(self) -> LabSpec:
        document = self.validated(lab_document())
        # What no one field says, checked on the data as written, so that these problems are
        # named beside the others rather than once those are fixed.
        self.check_lab_id()
        self.check_unique_ids(self.data, {})
        services = self.data.get("services") if isinstance(self.data, dict) else None
        services = services if isinstance(services, dict) else {}
        server = services.get("server")
        if isinstance(server, dict) and "port" not in server:
            self.problem(
                self.node_at("services", "server"), "services.server.port", "a server needs a port"
            )
        self.check_services(self.data, services)
        if document is None:
            self.raise_problems()
        checks = self.checks(document.checks)
        self.raise_problems()
        services = document.services
        return LabSpec(
            id=document.id,
            title=document.title,
            path=self.path,
            services=services,
            timeouts=document.timeouts,
            limits=document.limits,
            checks=checks,
        )

    def check_services(self, data: Any, services: dict[str, Any]) -> None:
        """Each check has the services its kind needs, with the protocol it needs."""
        for index, written in self.checks_alone(data):
            kind = check_kinds()[written.kind]
            params = self.params(written)
            for role in kind.services_needed(params):
                if not isinstance(services.get(role), dict):
                    self.problem(
                        self.node_at("checks", index, "kind"),
                        f"checks[{index}].kind",
                        f"{written.kind} needs services.{role}",
                    )
            protocol = kind.protocol_needed(params)
            server = services.get("server")
            if protocol is not None and isinstance(server, dict):
                declared = server.get("protocol", "tcp")
                if declared != protocol:
                    self.problem(
                        self.node_at("checks", index, "kind"),
                        f"checks[{index}].kind",
                        f"{written.kind} needs a {protocol.upper()} server; services.server"
                        f" has protocol {declared}",
                    )

    def checks_alone(self, data: Any) -> list[tuple[int, Any]]:
        """(index, model) of each check in `data` that is valid on its own."""
        written = data.get("checks") if isinstance(data, dict) else None
        if not isinstance(written, list):
            return []
        valid = []
        for index, check in enumerate(written):
            try:
                valid.append((index, one_check().validate_json(as_json(check), strict=True)))
            except pydantic.ValidationError:
                continue  # the whole file's validation names what is wrong with it
        return valid

    @staticmethod
    def params(written: Any) -> Any:
        """The kind's parameters dataclass from a validated check model."""
        kind = check_kinds()[written.kind]
        names = kind.params.__pydantic_fields__  # type: ignore[attr-defined]
        return kind.params(**{name: getattr(written, name) for name in names})

    def check_lab_id(self) -> None:
        """A lab's id is its directory's name: a copied lab directory is told so."""
        if not isinstance(self.data, dict) or not isinstance(self.data.get("id"), str):
            return
        directory = self.path.parent.name
        if self.data["id"] != directory:
            self.problem(
                self.node_at("id"),
                "id",
                f"must be the name of the lab's directory, {directory!r} (a copied lab directory"
                f" needs its own id: id: {directory})",
            )

    def check_unique_ids(self, data: Any, taken: dict[str, int], taken_in: str = "") -> None:
        """Check ids are unique in this file and differ from `taken` ({id: line} of the file
        named `taken_in`)."""
        if not isinstance(data, dict) or not isinstance(data.get("checks"), list):
            return
        seen = dict(taken)
        for index, check in enumerate(data["checks"]):
            if not isinstance(check, dict) or not isinstance(check.get("id"), str):
                continue
            node = self.node_at("checks", index)
            check_id = check["id"]
            if check_id in taken:
                message = (
                    f"check id {check_id!r} is the spec's too ({taken_in} line {taken[check_id]})"
                )
            elif check_id in seen:
                message = f"duplicate check id {check_id!r} (first on line {seen[check_id]})"
            else:
                seen[check_id] = line_of(node)
                continue
            self.problem(node, field_path(field_path("checks", index), "id"), message)

    def checks(self, documents: list[Any]) -> tuple[CheckSpec, ...]:
        checks = []
        for index, written in enumerate(documents):
            params = self.params(written)
            node = self.node_at("checks", index)
            checks.append(
                CheckSpec(
                    id=written.id,
                    title=written.title,
                    kind=written.kind,
                    points=written.points,
                    params=params,
                    hidden=written.hidden,
                    feedback=written.feedback,
                    line=line_of(node),
                )
            )
        return tuple(checks)

    def hidden_checks(self, lab: LabSpec) -> LabSpec:
        """`lab` with the checks of this hidden-checks file (see load_spec) added."""
        document = self.validated(hidden_checks_document())
        named = self.data.get("lab") if isinstance(self.data, dict) else None
        if isinstance(named, str) and named != lab.id:
            self.problem(
                self.node_at("lab"), "lab", f"these checks are for {named!r}, not {lab.id!r}"
            )
        taken = {check.id: check.line or 0 for check in lab.checks}
        self.check_unique_ids(self.data, taken, lab.path.name)
        services = {
            role: {"protocol": service.protocol}
            for role in ("server", "client")
            if (service := getattr(lab.services, role)) is not None
        }
        self.check_services(self.data, services)
        for index, written in self.checks_alone(self.data):
            if "hidden" in written.model_fields_set and not written.hidden:
                self.problem(
                    self.node_at("checks", index, "hidden"),
                    f"checks[{index}].hidden",
                    "checks in a hidden-checks file are hidden",
                )
        if document is None:
            self.raise_problems()
        added = self.checks(document.checks)
        self.raise_problems()
        hidden = tuple(dataclasses.replace(check, hidden=True) for check in added)
        return dataclasses.replace(lab, checks=lab.checks + hidden, hidden_checks_path=self.path)


def yaml_root(path: Path, what: str) -> yaml.Node:
    """The node tree of the YAML file at `path`; SpecError when unreadable, invalid or empty."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SpecError(path, None, "", f"cannot read the {what}: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise SpecError(path, None, "", f"the {what} is not UTF-8 text: {e.reason}") from e
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else None
        raise SpecError(path, line, "", yaml_problem(e)) from e
    except yaml.YAMLError as e:
        raise SpecError(path, None, "", f"not valid YAML: {e}") from e
    except RecursionError as e:
        raise SpecError(path, None, "", f"the {what} is nested too deeply to read") from e
    if root is None:
        raise SpecError(path, 1, "", f"the {what} is empty")
    return root


YAML_HINTS = {
    "found character '\\t' that cannot start any token": "indent with spaces: YAML refuses tabs",
    "mapping values are not allowed here": "a value with ': ' in it must be in quotes",
    "found unexpected end of stream": "a quote or bracket is not closed",
}


def yaml_problem(error: yaml.MarkedYAMLError) -> str:
    """PyYAML's error in one line: the problem, what it was reading and from which line, and
    a hint for the common mistakes."""
    message = f"not valid YAML: {error.problem}"
    if error.context and error.context_mark is not None:
        message += f" ({error.context} from line {error.context_mark.line + 1})"
    hint = next((hint for known, hint in YAML_HINTS.items() if known in str(error.problem)), None)
    return f"{message}: {hint}" if hint else message
