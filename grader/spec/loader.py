"""Reads a spec.yaml into a LabSpec, or fails with the file, line and field at fault."""

from __future__ import annotations

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


def load_spec(path: Path) -> LabSpec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SpecError(path, None, "", f"cannot read the spec: {e.strerror}") from e
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else None
        raise SpecError(path, line, "", f"not valid YAML: {e.problem}") from e
    if root is None:
        raise SpecError(path, 1, "", "the spec is empty")
    return SpecReader(path).lab(root)


class SpecReader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.convert = Converter(path)

    def lab(self, root: yaml.Node) -> LabSpec:
        items = self.convert.mapping_items(root, "")
        by_key = {key: (key_node, value) for key, key_node, value in items}
        for key, key_node, _ in items:
            if key not in TOP_LEVEL_KEYS:
                raise self.convert.error(key_node, key, unknown_key(key, set(TOP_LEVEL_KEYS)))
        for required in ("id", "title", "checks"):
            if required not in by_key:
                raise self.convert.error(root, required, "missing required key")

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
        if points < 0:
            raise self.convert.error(common["points"], f"{where}.points", "must not be negative")
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
