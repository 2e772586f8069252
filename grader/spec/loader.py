"""Reads a spec.yaml into a LabSpec, or fails with the file, line and field at fault."""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from pathlib import Path

import yaml

from grader.checks import check_kinds
from grader.errors import SpecError
from grader.spec.convert import Converter, field_path, line_of, unknown_key
from grader.spec.model import CheckSpec, LabSpec, Limits, Services, ServiceSpec, Timeouts

CHECK_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
COMMON_CHECK_KEYS = {"id", "title", "kind", "points", "hidden", "feedback"}
TOP_LEVEL_KEYS = {"id", "title", "services", "timeouts", "limits", "checks"}
GRADING_PORT_MAX = 32767
"""Below Linux's default ephemeral range (net.ipv4.ip_local_port_range 32768-60999)."""


HIDDEN_CHECKS_KEYS = {"lab", "checks"}


def load_spec(path: Path, hidden_checks: Path | None = None) -> LabSpec:
    """The lab of the spec.yaml at `path`, with the checks of `hidden_checks` added.

    `hidden_checks` is a private YAML file an instructor keeps out of the students'
    repository: `lab: <id>` and `checks:` in the spec's own form, every one of them hidden
    (`hidden: true` may be left out; `hidden: false` is refused). Raises SpecError with the
    file, line and field at fault in either file.
    """
    path = Path(path)
    lab = SpecReader(path).lab(_yaml_root(path, "spec"))
    if hidden_checks is None:
        return lab
    return SpecReader(Path(hidden_checks)).hidden_checks(
        _yaml_root(Path(hidden_checks), "hidden-checks file"), lab
    )


def _yaml_root(path: Path, what: str) -> yaml.Node:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SpecError(path, None, "", f"cannot read the {what}: {e.strerror}") from e
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else None
        raise SpecError(path, line, "", f"not valid YAML: {e.problem}") from e
    if root is None:
        raise SpecError(path, 1, "", f"the {what} is empty")
    return root


class SpecReader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.convert = Converter(path)

    def top_level(
        self, root: yaml.Node, known: set[str], required: tuple[str, ...]
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """A file's top-level mapping as {key: (key node, value node)}.

        Raises SpecError at an unknown key, or for a missing required one (at a key that
        looks like it, when there is one: see `misspelt`).
        """
        items = self.convert.mapping_items(root, "")
        for key, key_node, _ in items:
            if key not in known:
                raise self.convert.error(key_node, key, unknown_key(key, known))
        by_key = {key: (key_node, value) for key, key_node, value in items}
        for name in required:
            if name not in by_key:
                self.misspelt(items, name, "")
                raise self.convert.error(root, name, "missing required key")
        return by_key

    def lab(self, root: yaml.Node) -> LabSpec:
        by_key = self.top_level(root, TOP_LEVEL_KEYS, ("id", "title", "checks"))

        def section(key: str, cls: type, default: object) -> object:
            if key not in by_key:
                return default
            return self.convert.to_dataclass(cls, by_key[key][1], key)

        lab_id = self.text(by_key["id"][1], "id")
        if lab_id != self.path.parent.name:
            raise self.convert.error(
                by_key["id"][1],
                "id",
                f"must match the lab's directory name {self.path.parent.name!r}",
            )
        services = section("services", Services, Services())
        timeouts = section("timeouts", Timeouts, Timeouts())
        limits = section("limits", Limits, Limits())
        assert isinstance(services, Services)
        assert isinstance(timeouts, Timeouts)
        assert isinstance(limits, Limits)
        self.validate_services(services, by_key.get("services", (root, root))[1])
        self.validate_positive(timeouts, by_key.get("timeouts", (root, root))[1], "timeouts")
        self.validate_positive(limits, by_key.get("limits", (root, root))[1], "limits")
        checks = self.checks(by_key["checks"][1], services)
        return LabSpec(
            id=lab_id,
            title=self.text(by_key["title"][1], "title"),
            path=self.path,
            services=services,
            timeouts=timeouts,
            limits=limits,
            checks=checks,
        )

    def hidden_checks(self, root: yaml.Node, lab: LabSpec) -> LabSpec:
        """`lab` with the checks of this hidden-checks file (see load_spec) added."""
        by_key = self.top_level(root, HIDDEN_CHECKS_KEYS, ("lab", "checks"))
        lab_id = self.text(by_key["lab"][1], "lab")
        if lab_id != lab.id:
            raise self.convert.error(
                by_key["lab"][1], "lab", f"these checks are for {lab_id!r}, not {lab.id!r}"
            )
        node = by_key["checks"][1]
        added = self.checks(node, lab.services)
        known = {check.id: check.line for check in lab.checks}
        for index, check in enumerate(added):
            check_node = node.value[index]
            where = field_path("checks", index)
            if check.id in known:
                raise self.convert.error(
                    check_node,
                    f"{where}.id",
                    f"check id {check.id!r} is the spec's too (line {known[check.id]})",
                )
            explicit = [value for key, _, value in self.convert.mapping_items(check_node, where)
                        if key == "hidden"]  # fmt: skip
            if explicit and not check.hidden:
                raise self.convert.error(
                    explicit[0], f"{where}.hidden", "checks in a hidden-checks file are hidden"
                )
        hidden = tuple(dataclasses.replace(check, hidden=True) for check in added)
        return dataclasses.replace(lab, checks=lab.checks + hidden, hidden_checks_path=self.path)

    def misspelt(
        self, items: list[tuple[str, yaml.Node, yaml.Node]], required: str, where: str
    ) -> None:
        """Raises SpecError at a key that looks like the missing `required` one (`pionts`),
        so the error names that key's own line and its likely spelling."""
        for key, key_node, _ in items:
            if key != required and difflib.get_close_matches(key, [required], cutoff=0.75):
                message = unknown_key(key, {required})  # "did you mean" that one
                raise self.convert.error(key_node, field_path(where, key), message)

    def text(self, node: yaml.Node, where: str) -> str:
        value = self.convert.scalar(node, where)
        if not isinstance(value, str) or not value.strip():
            raise self.convert.error(node, where, f"expected non-empty text, got {value!r}")
        return value

    def validate_services(self, services: Services, node: yaml.Node) -> None:
        for role in ("server", "client"):
            service: ServiceSpec | None = getattr(services, role)
            if service is None:
                continue
            where = f"services.{role}"
            if "/" in service.file or service.file in ("", ".", ".."):
                raise self.convert.error(node, f"{where}.file", "must be a plain file name")
            if service.port is not None and not 1024 <= service.port <= 65535:
                raise self.convert.error(
                    node, f"{where}.port", f"must be a port from 1024 to 65535, got {service.port}"
                )
            # Inside a container, Linux takes local ports for outgoing connections, and Docker's
            # embedded DNS its listening ports, from 32768-60999: a grading port there can be
            # taken already, by chance, and a correct server would fail to bind.
            grading = service.grading_port
            if grading is not None and not 1024 <= grading <= GRADING_PORT_MAX:
                raise self.convert.error(
                    node,
                    f"{where}.grading_port",
                    f"must be a port from 1024 to {GRADING_PORT_MAX}, below the ephemeral"
                    f" ports, got {grading}",
                )
        if services.server is not None and services.server.port is None:
            raise self.convert.error(node, "services.server.port", "a server needs a port")

    def validate_positive(self, section: object, node: yaml.Node, where: str) -> None:
        for name, value in vars(section).items():
            if value <= 0:
                raise self.convert.error(
                    node, f"{where}.{name}", f"must be greater than zero, got {value}"
                )

    def checks(self, node: yaml.Node, services: Services) -> tuple[CheckSpec, ...]:
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            raise self.convert.error(node, "checks", "expected a non-empty list of checks")
        seen: dict[str, int] = {}
        checks = []
        for index, check_node in enumerate(node.value):
            where = field_path("checks", index)
            check = self.check(check_node, where, services)
            if check.id in seen:
                raise self.convert.error(
                    check_node,
                    f"{where}.id",
                    f"duplicate check id {check.id!r} (first on line {seen[check.id]})",
                )
            seen[check.id] = line_of(check_node)
            checks.append(check)
        return tuple(checks)

    def check(self, node: yaml.Node, where: str, services: Services) -> CheckSpec:
        items = self.convert.mapping_items(node, where)
        common = {key: value for key, _, value in items if key in COMMON_CHECK_KEYS}
        for required in ("id", "title", "kind", "points"):
            if required not in common:
                self.misspelt(items, required, where)
                raise self.convert.error(node, f"{where}.{required}", "missing required key")
        check_id = self.text(common["id"], f"{where}.id")
        if not CHECK_ID.match(check_id):
            raise self.convert.error(
                common["id"], f"{where}.id", "use lower-case letters, digits and dashes"
            )
        kind_name = self.text(common["kind"], f"{where}.kind")
        kinds = check_kinds()
        if kind_name not in kinds:
            known = ", ".join(sorted(kinds))
            raise self.convert.error(
                common["kind"], f"{where}.kind", f"no check kind {kind_name!r} (known: {known})"
            )
        kind = kinds[kind_name]
        points = self.convert.to_type(float, common["points"], f"{where}.points")
        if not math.isfinite(points) or points < 0:
            raise self.convert.error(
                common["points"], f"{where}.points", f"must be a number, 0 or more, got {points}"
            )
        hidden = (
            self.convert.to_type(bool, common["hidden"], f"{where}.hidden")
            if "hidden" in common
            else False
        )
        feedback = (
            self.text(common["feedback"], f"{where}.feedback") if "feedback" in common else None
        )
        params_items = [item for item in items if item[0] not in COMMON_CHECK_KEYS]
        params = self.convert.to_dataclass_from_items(
            kind.params, params_items, node, where, frozenset(COMMON_CHECK_KEYS)
        )
        for role in kind.services_needed(params):
            if getattr(services, role) is None:
                raise self.convert.error(
                    common["kind"], f"{where}.kind", f"{kind_name} needs services.{role}"
                )
        return CheckSpec(
            id=check_id,
            title=self.text(common["title"], f"{where}.title"),
            kind=kind_name,
            points=points,
            params=params,
            hidden=hidden,
            feedback=feedback,
            line=line_of(node),
        )
