"""Says where one grading's wall time goes, by timing grader functions from the outside.

    .venv/bin/python bench/breakdown.py [LAB ...] [--starter] [--cprofile FILE]

Bench-only: `instrumented()` replaces some grader and Docker SDK functions in this process
with timed wrappers and puts them back on exit; no grader code changes. Each timed section
counts only its *own* time (its nested timed sections are subtracted), so the rows of a
breakdown add up to the grading's wall time. Containers are counted by their
`socketlab.role` label when they are created.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

import docker.models.containers  # noqa: E402
import docker.models.networks  # noqa: E402

from grader import grading  # noqa: E402
from grader.sandbox import capture, image, labels, network, scratch, staging  # noqa: E402
from grader.scenarios import run as scenario_run  # noqa: E402
from grader.scenarios import runner, steps  # noqa: E402
from grader.spec.loader import load_spec  # noqa: E402

LABS = ("01-tcp-hello", "02-tcp-echo", "03-udp-ping")

# Timed section -> the row of the breakdown it counts in. Sections not listed are their own row.
CATEGORIES = {
    "docker: container create": "containers: create",
    "docker: container start": "containers: start",
    "docker: container remove": "containers: remove",
    "docker: container stop": "containers: remove",
    "docker: state and log reads": "docker state/log reads (polling)",
    "docker: signal": "docker state/log reads (polling)",
    "network: create": "lab network + name server (setup, teardown)",
    "network: remove": "lab network + name server (setup, teardown)",
    "lab_network enter": "lab network + name server (setup, teardown)",
    "lab_network exit": "lab network + name server (setup, teardown)",
    "wait_for_listen": "readiness: listen watcher",
    "ReferenceServer enter": "readiness: peers' READY",
    "ready_helper enter": "readiness: peers' READY",
    "capture enter": "capture: start (tcpdump listening)",
    "capture exit": "capture: stop",
    "PacketCapture.stop": "capture: stop",
    "read_packets": "capture: pcap parsing",
    "conversation": "capture: pcap parsing",
    "finish_program": "protocol: student program runs",
    "run_reference_client": "protocol: reference client",
    "run_reference_udp_client": "protocol: reference client",
    "ReferenceServer.report": "protocol: stop peer, read report",
    "stop_and_report": "protocol: stop peer, read report",
    "ready_helper exit": "protocol: stop peer, read report",
    "labels.sweep": "sweeps, staging, image check",
    "scratch.sweep_stale": "sweeps, staging, image check",
    "staged_submission enter": "sweeps, staging, image check",
    "staged_submission exit": "sweeps, staging, image check",
    "require_image": "sweeps, staging, image check",
    "SubmissionRun._run": "scenario code (rest)",
    "grade_submission": "pytest, judging, reporting (rest)",
}


@dataclass
class Timeline:
    """Self time per section (seconds), call counts, and containers created per role."""

    self_s: Counter[str] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)
    roles: Counter[str] = field(default_factory=Counter)
    role_docker_s: Counter[str] = field(default_factory=Counter)
    """create + start + remove seconds of the containers of each role."""
    scenarios_s: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    """Wall seconds of each scenario run, by scenario type (nested time included)."""
    container_roles: dict[str, str] = field(default_factory=dict)
    _children: list[float] = field(default_factory=list)

    @contextmanager
    def section(self, label: str, role: str | None = None) -> Iterator[None]:
        started = time.perf_counter()
        self._children.append(0.0)
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            nested = self._children.pop()
            self.self_s[label] += elapsed - nested
            self.calls[label] += 1
            if role is not None:
                self.role_docker_s[role] += elapsed
            if self._children:
                self._children[-1] += elapsed

    def rows(self) -> list[tuple[str, float]]:
        """(row, seconds) by the CATEGORIES grouping, largest first."""
        grouped: Counter[str] = Counter()
        for label, seconds in self.self_s.items():
            grouped[CATEGORIES.get(label, label)] += seconds
        return grouped.most_common()

    def total_s(self) -> float:
        return sum(self.self_s.values())


def _timed_call(timeline: Timeline, function: Callable[..., Any], label: str) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with timeline.section(label):
            return function(*args, **kwargs)

    return wrapper


class _TimedContext:
    """Wraps a context manager: its __enter__ and __exit__ are timed as two sections."""

    def __init__(self, timeline: Timeline, inner: AbstractContextManager[Any], label: str) -> None:
        self.timeline, self.inner, self.label = timeline, inner, label

    def __enter__(self) -> Any:
        with self.timeline.section(f"{self.label} enter"):
            return self.inner.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        with self.timeline.section(f"{self.label} exit"):
            return self.inner.__exit__(*exc)


def _timed_context(timeline: Timeline, factory: Callable[..., Any], label: str) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return _TimedContext(timeline, factory(*args, **kwargs), label)

    return wrapper


@contextmanager
def instrumented(timeline: Timeline) -> Iterator[Timeline]:
    """Times grader and Docker SDK functions into `timeline` until the block ends."""
    replaced: list[tuple[Any, str, Any]] = []

    def replace(owner: Any, name: str, new: Any) -> None:
        # None: inherited (Model.reload), so putting it back means deleting the wrapper
        replaced.append((owner, name, vars(owner).get(name)))
        setattr(owner, name, new)

    containers_collection = docker.models.containers.ContainerCollection
    container = docker.models.containers.Container
    original_create = containers_collection.create

    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        role = str((kwargs.get("labels") or {}).get("socketlab.role", "unlabelled"))
        timeline.roles[role] += 1
        with timeline.section("docker: container create", role):
            created = original_create(self, *args, **kwargs)
        timeline.container_roles[created.id] = role
        return created

    def by_role(method: Callable[..., Any], label: str) -> Callable[..., Any]:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            with timeline.section(label, timeline.container_roles.get(self.id, "unlabelled")):
                return method(self, *args, **kwargs)

        return wrapper

    replace(containers_collection, "create", create)
    replace(container, "start", by_role(container.start, "docker: container start"))
    replace(container, "remove", by_role(container.remove, "docker: container remove"))
    replace(container, "stop", _timed_call(timeline, container.stop, "docker: container stop"))
    for name in ("reload", "logs"):
        reader = getattr(container, name)
        replace(container, name, _timed_call(timeline, reader, "docker: state and log reads"))
    replace(container, "kill", _timed_call(timeline, container.kill, "docker: signal"))
    networks = docker.models.networks
    replace(
        networks.NetworkCollection,
        "create",
        _timed_call(timeline, networks.NetworkCollection.create, "network: create"),
    )
    replace(
        networks.Network,
        "remove",
        _timed_call(timeline, networks.Network.remove, "network: remove"),
    )

    for module, name in (
        (steps, "wait_for_listen"),
        (steps, "finish_program"),
        (steps, "run_reference_client"),
        (steps, "run_reference_udp_client"),
        (steps, "stop_and_report"),
        (runner, "read_packets"),
        (runner, "conversation"),
        (labels, "sweep"),
        (scratch, "sweep_stale"),
        (image, "require_image"),
        (grading, "grade_submission"),
    ):
        label = name if module is not scratch else "scratch.sweep_stale"
        label = "labels.sweep" if module is labels else label
        replace(module, name, _timed_call(timeline, getattr(module, name), label))
    replace(
        steps.ReferenceServer,
        "__enter__",
        _timed_call(timeline, steps.ReferenceServer.__enter__, "ReferenceServer enter"),
    )
    replace(
        steps.ReferenceServer,
        "report",
        _timed_call(timeline, steps.ReferenceServer.report, "ReferenceServer.report"),
    )
    replace(
        capture.PacketCapture,
        "stop",
        _timed_call(timeline, capture.PacketCapture.stop, "PacketCapture.stop"),
    )
    replace(steps, "ready_helper", _timed_context(timeline, steps.ready_helper, "ready_helper"))
    replace(runner, "capture", _timed_context(timeline, runner.capture, "capture"))
    replace(network, "lab_network", _timed_context(timeline, network.lab_network, "lab_network"))
    replace(
        staging,
        "staged_submission",
        _timed_context(timeline, staging.staged_submission, "staged_submission"),
    )
    original_run = scenario_run.SubmissionRun._run

    def run(self: Any, scenario: Any) -> Any:
        started = time.perf_counter()
        try:
            with timeline.section("SubmissionRun._run"):
                return original_run(self, scenario)
        finally:
            timeline.scenarios_s[type(scenario).__name__].append(time.perf_counter() - started)

    replace(scenario_run.SubmissionRun, "_run", run)
    try:
        yield timeline
    finally:
        for owner, name, original in reversed(replaced):
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


def graded_with_breakdown(lab_id: str, submission: Path) -> tuple[Timeline, bool]:
    """Grades `submission` once, instrumented; returns the timeline and whether all passed.

    Raises AssertionError when the grading could not finish (an infrastructure failure).
    """
    lab = load_spec(REPOSITORY / "labs" / lab_id / "spec.yaml")
    timeline = Timeline()
    with instrumented(timeline):
        outcome = grading.grade_submission(lab, submission, skip_hidden=False)
    assert outcome.result is not None, outcome.infrastructure_failure
    return timeline, outcome.result.all_passed


def as_markdown(lab_id: str, which: str, timeline: Timeline) -> str:
    """One breakdown as a Markdown table (seconds and share of the grading's wall time)."""
    total = timeline.total_s()
    roles = ", ".join(f"{role} {count}" for role, count in sorted(timeline.roles.items()))
    lines = [
        f"**{lab_id} {which}**: {total:.1f} s, {sum(timeline.roles.values())} containers ({roles})",
        "",
        "| where | s | share |",
        "|---|---:|---:|",
    ]
    for row, seconds in timeline.rows():
        lines.append(f"| {row} | {seconds:.2f} | {100 * seconds / total:.0f}% |")
    lines += ["", "| role | containers | create+start+remove s |", "|---|---:|---:|"]
    for role, count in sorted(timeline.roles.items(), key=lambda item: -item[1]):
        lines.append(f"| {role} | {count} | {timeline.role_docker_s[role]:.2f} |")
    lines += ["", "| scenario | runs | s each |", "|---|---:|---|"]
    for kind, durations in sorted(timeline.scenarios_s.items()):
        each = ", ".join(f"{d:.1f}" for d in durations)
        lines.append(f"| {kind} | {len(durations)} | {each} |")
    return "\n".join(lines)


def as_dict(timeline: Timeline) -> dict[str, Any]:
    return {
        "total_s": round(timeline.total_s(), 3),
        "containers_by_role": dict(timeline.roles),
        "containers_total": sum(timeline.roles.values()),
        "breakdown_s": {row: round(seconds, 3) for row, seconds in timeline.rows()},
        "sections_self_s": {k: round(v, 3) for k, v in timeline.self_s.most_common()},
        "section_calls": dict(timeline.calls),
        "docker_s_by_role": {role: round(s, 3) for role, s in timeline.role_docker_s.items()},
        "scenarios_s": {k: [round(d, 2) for d in v] for k, v in timeline.scenarios_s.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labs", nargs="*", default=list(LABS))
    parser.add_argument("--starter", action="store_true", help="grade the starters instead")
    parser.add_argument("--raw", action="store_true", help="also print every section as JSON")
    parser.add_argument("--cprofile", type=Path, help="also write cProfile stats to FILE.LAB")
    arguments = parser.parse_args()
    for lab_id in arguments.labs:
        which = "starter" if arguments.starter else "solution"
        submission = REPOSITORY / ("labs" if arguments.starter else "solutions") / lab_id
        with ExitStack() as stack:
            profiler = None
            if arguments.cprofile is not None:
                profiler = cProfile.Profile()
                profiler.enable()
                stack.callback(profiler.disable)
            timeline, passed = graded_with_breakdown(lab_id, submission)
        print(as_markdown(lab_id, which, timeline))
        print(f"\nall passed: {passed}\n")
        if arguments.raw:
            print(json.dumps(as_dict(timeline), indent=1))
        if profiler is not None:
            path = arguments.cprofile.with_suffix(f".{lab_id}")
            profiler.dump_stats(path)
            pstats.Stats(str(path)).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
