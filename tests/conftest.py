"""Fixtures: the Docker engine (never skipped silently), the CLI, and lab 01 graded once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from grader.errors import InfrastructureError
from grader.sandbox import engine, image, labels
from grader.sandbox.local import can_capture
from tests.submissions import BY_TOPIC, CORE, REPOSITORY, Broken


# tryfirst: pytest-xdist reads the xdist_group marks in its own hook of this name.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("docker"):
            item.fixturenames.insert(0, "docker_ready")
        group = batch_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


def batch_group(item: pytest.Item) -> str | None:
    """The batch fixture (and its parameter) an item reads, or None.

    Under pytest-xdist (`--dist loadgroup`) every test of one graded batch runs in the same
    worker, so each batch is graded once; different batches grade in parallel, each on its own
    lab network.
    """
    names = [name for name in getattr(item, "fixturenames", ()) if name.endswith("_batch")]
    if not names:
        return None
    callspec = getattr(item, "callspec", None)
    params = callspec.params if callspec is not None else {}
    # No "]" at the end: xdist takes a node id ending in "]" for a parameter, not a group.
    return ",".join(f"{name}:{params[name]}" if name in params else name for name in names)


@pytest.fixture(scope="session")
def docker_ready() -> Iterator[Any]:
    """The Docker client; a Docker test fails (never skips) when Docker or the image is missing."""
    try:
        client = engine.connect()
        image.require_image(client)
    except InfrastructureError as e:
        pytest.fail(
            f"this test needs Docker and the runtime image (`make setup`): {e}", pytrace=False
        )
    yield client


# `python -m grader.cli` with Python's own Ctrl-C handler put back first, for the tests that
# press Ctrl-C. A test run started in the background by a shell without job control (as a CI
# runner may start it) has SIGINT ignored, and every process it starts inherits that; socketlab
# then leaves it ignored, as every program does (nohup), and such a test would test nothing.
SOCKETLAB_AT_A_TERMINAL = [
    sys.executable,
    "-c",
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler);"
    " runpy.run_module('grader.cli', run_name='__main__', alter_sys=True)",
]


def socketlab(
    *arguments: str, env: dict[str, str] | None = None, timeout_s: float = 900
) -> subprocess.CompletedProcess[str]:
    """Runs the real command line, as a user would, and returns what it did."""
    return subprocess.run(
        [sys.executable, "-m", "grader.cli", *arguments],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=REPOSITORY,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        check=False,
    )


needs_capture = pytest.mark.skipif(
    not can_capture(), reason="packet capture needs root and tcpdump (make setup installs it)"
)
"""For tests of the local backend's packet checks: they capture with tcpdump, as root."""


@dataclass(frozen=True)
class GradedBatch:
    out: Path
    process: subprocess.CompletedProcess[str]
    pid: int | None = None
    """The grader's pid: the owner-pid label on everything that batch made."""

    def leftovers(self, client: Any) -> list[Any]:
        """The containers and networks this batch's grader made that still exist.

        Only its own: other gradings may be running on the same engine.
        """
        assert self.pid is not None, "made by grade_batch(), which records the grader's pid"
        return labels.owned_by(client, self.pid)

    def results(self, name: str) -> dict[str, Any]:
        return dict(json.loads((self.out / name / "results.json").read_text()))

    def failed_checks(self, name: str) -> set[str]:
        return {
            test["name"].split(":")[0]
            for test in self.results(name)["tests"]
            if test["status"] != "passed"
        }

    def feedback(self, name: str) -> str:
        results = self.results(name)
        return "\n".join([results.get("output", ""), *(t["output"] for t in results["tests"])])


def solution_name(lab: str) -> str:
    """The solution's name in a grade_batch output."""
    return f"solutions__{lab}"


def starter_name(lab: str) -> str:
    """The starter's name in a grade_batch output."""
    return f"labs__{lab}"


def grade_batch(
    factory: pytest.TempPathFactory,
    lab: str,
    broken: tuple[Broken, ...],
    *,
    with_references: bool = True,
    backend: str = "docker",
    jobs: int | None = None,
) -> GradedBatch:
    """The lab's solution, starter and broken submissions, graded by one `socketlab grade`.

    In the output the solution is `solutions__<lab>` and the starter `labs__<lab>` (the same
    folder name, so each is named after its path); `with_references=False` grades the broken
    submissions alone. `backend` is grade's --backend; `jobs` its --jobs (default:
    batch_jobs()).
    """
    submissions = factory.mktemp(f"{lab}-submissions")
    directories = [b.materialize(submissions) for b in broken]
    out = factory.mktemp(f"{lab}-out")
    references = [f"solutions/{lab}", f"labs/{lab}"] if with_references else []
    arguments = ["grade", lab, *references, *map(str, directories), "--backend", backend]
    if jobs is not None:
        arguments += ["--jobs", str(jobs)]
    process, pid = socketlab_with_pid(*arguments, "--out", str(out))
    return GradedBatch(out, process, pid)


BATCH_JOBS_ENV = "SOCKETLAB_TEST_JOBS"


def batch_jobs() -> int:
    """How many submissions each graded batch of the tests grades at once ($SOCKETLAB_TEST_JOBS).

    Two by default: with the Makefile's three pytest-xdist workers, at most six gradings share
    the machine, and the verdicts must hold under that load.
    """
    raw = os.environ.get(BATCH_JOBS_ENV, "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else 2


def socketlab_with_pid(
    *arguments: str, timeout_s: float = 2400
) -> tuple[subprocess.CompletedProcess[str], int]:
    """Like socketlab(), and also the pid it ran as (the owner-pid on what it made).

    A `grade` without --jobs grades batch_jobs() submissions at a time.
    """
    if arguments[:1] == ("grade",) and "--jobs" not in arguments:
        arguments = (*arguments, "--jobs", str(batch_jobs()))
    command = [sys.executable, "-m", "grader.cli", *arguments]
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPOSITORY,
        env={**os.environ, "COLUMNS": "200"},
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    done = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    return done, process.pid


@pytest.fixture(scope="session")
def lab01_batch(tmp_path_factory: pytest.TempPathFactory, docker_ready: Any) -> GradedBatch:
    return grade_batch(tmp_path_factory, "01-tcp-hello", CORE["01-tcp-hello"])


@pytest.fixture(scope="session")
def lab03_batch(tmp_path_factory: pytest.TempPathFactory, docker_ready: Any) -> GradedBatch:
    return grade_batch(tmp_path_factory, "03-udp-ping", CORE["03-udp-ping"])


@pytest.fixture(scope="session")
def lab02_batch(tmp_path_factory: pytest.TempPathFactory, docker_ready: Any) -> GradedBatch:
    return grade_batch(tmp_path_factory, "02-tcp-echo", CORE["02-tcp-echo"])


# One fixture per lab, not one parametrized fixture: a test parametrized with the lab as an
# indirect parameter would get a fixture instance per test, and grade the batch again each time.
@pytest.fixture(scope="session")
def lab01_verdict_batch(tmp_path_factory: pytest.TempPathFactory, docker_ready: Any) -> GradedBatch:
    """Lab 01's mistakes by kind (tests/mistakes_*.py), graded alone by one `socketlab grade`."""
    return grade_batch(
        tmp_path_factory, "01-tcp-hello", BY_TOPIC["01-tcp-hello"], with_references=False
    )


@pytest.fixture(scope="session")
def lab02_verdict_batch(tmp_path_factory: pytest.TempPathFactory, docker_ready: Any) -> GradedBatch:
    """Lab 02's mistakes by kind, graded alone by one `socketlab grade`."""
    return grade_batch(
        tmp_path_factory, "02-tcp-echo", BY_TOPIC["02-tcp-echo"], with_references=False
    )


@pytest.fixture(scope="session")
def lab03_verdict_batch(tmp_path_factory: pytest.TempPathFactory, docker_ready: Any) -> GradedBatch:
    """Lab 03's mistakes by kind, graded alone by one `socketlab grade`."""
    return grade_batch(
        tmp_path_factory, "03-udp-ping", BY_TOPIC["03-udp-ping"], with_references=False
    )
