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
from grader.sandbox import engine, image
from tests.submissions import LAB01, REPOSITORY


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("docker"):
            item.fixturenames.insert(0, "docker_ready")


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


@dataclass(frozen=True)
class GradedBatch:
    out: Path
    process: subprocess.CompletedProcess[str]

    def results(self, name: str) -> dict[str, Any]:
        return dict(json.loads((self.out / name / "results.json").read_text()))

    def failed_checks(self, name: str) -> set[str]:
        return {
            test["name"].split(":")[0]
            for test in self.results(name)["tests"]
            if test["status"] != "passed"
        }

    def feedback(self, name: str) -> str:
        return "\n".join(test["output"] for test in self.results(name)["tests"])


@pytest.fixture(scope="session")
def lab01_batch(tmp_path_factory: pytest.TempPathFactory, docker_ready: Any) -> GradedBatch:
    """Lab 01's solution, starter and every broken submission, graded by one `socketlab grade`."""
    submissions = tmp_path_factory.mktemp("lab01-submissions")
    directories = [b.materialize(submissions) for b in LAB01]
    out = tmp_path_factory.mktemp("lab01-out")
    process = socketlab(
        "grade",
        "01-tcp-hello",
        "solutions/01-tcp-hello",
        "labs/01-tcp-hello",
        *map(str, directories),
        "--out",
        str(out),
    )
    return GradedBatch(out, process)
