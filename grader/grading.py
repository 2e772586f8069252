"""Grades one submission by running the lab's checks through pytest, and returns the results."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader import plugin
from grader.results import SubmissionResult
from grader.spec.model import LabSpec

GRADING_INI = Path(__file__).resolve().parent / "grading.ini"


@dataclass(frozen=True)
class GradingOutcome:
    result: SubmissionResult | None
    infrastructure_failure: str | None
    pytest_output: str


class _ResultCollector:
    """A pytest plugin object that keeps the session's results after pytest returns."""

    def __init__(self) -> None:
        self.config: pytest.Config | None = None

    def pytest_configure(self, config: pytest.Config) -> None:
        self.config = config


def grade_submission(
    lab: LabSpec,
    submission: Path,
    *,
    skip_hidden: bool,
    junit_xml: Path | None = None,
    captures: Path | None = None,
) -> GradingOutcome:
    arguments = [
        str(lab.path),
        "--submission",
        str(submission),
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(lab.directory),
        "-c",
        str(GRADING_INI),  # keeps any surrounding project's pytest settings out of grading
        "-q",
    ]
    if skip_hidden:
        arguments.append("--skip-hidden")
    if captures is not None:
        arguments += ["--captures", str(captures)]
    if junit_xml is not None:
        junit_xml.parent.mkdir(parents=True, exist_ok=True)
        arguments += ["--junitxml", str(junit_xml), "-o", "junit_suite_name=" + lab.id]
    collector = _ResultCollector()
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        exit_code = pytest.main(arguments, plugins=[collector])
    output = captured.getvalue()
    if exit_code == pytest.ExitCode.INTERRUPTED and "KeyboardInterrupt" in output:
        raise KeyboardInterrupt  # pytest caught Ctrl-C and already removed the run's resources
    config = collector.config
    if config is None:
        return GradingOutcome(None, f"pytest did not start (exit {exit_code}):\n{output}", output)
    failure = plugin.infrastructure_failure(config)
    results = plugin.collected_results(config)
    errors = [result for result in results if result.status == "error"]
    if failure is None and errors:
        failure = errors[0].error
    if failure is None and exit_code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        failure = f"pytest stopped with exit code {int(exit_code)}:\n{output[-3000:]}"
    if failure is not None:
        return GradingOutcome(None, failure, output)
    return GradingOutcome(SubmissionResult(lab.id, submission, tuple(results)), None, output)
