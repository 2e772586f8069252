"""Grades one submission by running the lab's checks through pytest, and returns the results."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader import interrupts, plugin
from grader.errors import GraderBugError, InfrastructureError
from grader.reporting.junit import write_junit
from grader.results import CheckResult, SubmissionResult
from grader.sandbox.layout import find_layout
from grader.spec.model import LabSpec

GRADING_INI = Path(__file__).resolve().parent / "grading.ini"


@dataclass(frozen=True)
class GradingOutcome:
    """A graded submission (`result`), or why it could not be graded (`infrastructure_failure`)."""

    result: SubmissionResult | None
    infrastructure_failure: InfrastructureError | None
    pytest_output: str
    cleanup_problem: str | None = None
    """Removing the run's containers failed after grading (the result still stands)."""


CheckProgress = Callable[[str, CheckResult | None], None]
"""Told `(check_id, None)` when a check starts and `(check_id, result)` when it has a verdict."""


class _ResultCollector:
    """A pytest plugin object that keeps the session's results after pytest returns."""

    def __init__(self, lab: LabSpec, on_check: CheckProgress | None = None) -> None:
        self.config: pytest.Config | None = None
        self.lab = lab
        self.on_check = on_check

    def pytest_configure(self, config: pytest.Config) -> None:
        self.config = config
        # Loading it again would cost about as much as pytest's own start.
        config.stash[plugin.LOADED_SPEC] = self.lab

    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        if self.on_check is not None:
            self.on_check(nodeid.rpartition("::")[2], None)

    def pytest_runtest_logfinish(self, nodeid: str, location: object) -> None:
        if self.on_check is None or self.config is None:
            return
        check_id = nodeid.rpartition("::")[2]
        results = plugin.collected_results(self.config)
        if results and results[-1].check_id == check_id:
            self.on_check(check_id, results[-1])


def grade_submission(
    lab: LabSpec,
    submission: Path,
    *,
    skip_hidden: bool,
    junit_xml: Path | None = None,
    captures: Path | None = None,
    on_check: CheckProgress | None = None,
    backend: str = "docker",
    without_capture: str = "error",
) -> GradingOutcome:
    """Runs the lab's checks on `submission` in this process and returns what they concluded.

    `backend` is where the programs run: "docker" or "local" (grader.sandbox.local).
    `without_capture` is what a packet check does where the local backend cannot capture:
    "error" (an infrastructure failure, for grading) or "not-checked" (`socketlab check`).

    `on_check`, if given, is told as each check starts and ends (see CheckProgress).

    `junit_xml` is written (grader.reporting.junit) only for a submission that was graded,
    whole or not at all; an interrupted grading (KeyboardInterrupt, re-raised) or one that
    could not finish writes none.
    """
    started = time.monotonic()
    outcome = _run_pytest(
        lab, submission, skip_hidden, captures, on_check, backend, without_capture
    )
    if junit_xml is not None and outcome.result is not None:
        write_junit(outcome.result, junit_xml, time.monotonic() - started)
    return outcome


# pytest's built-in plugins that a grading never uses (its checks are items of the grader's
# plugin: no doctests, unittest cases, temporary folders, monkeypatching, debugger or report
# files of pytest's): each is registered, its hooks parsed, and its options added to the
# command line's parser at the start of every session, a seventh of what a local grading of
# lab 01 costs the grader.
UNUSED_PYTEST_PLUGINS = (
    "doctest",
    "junitxml",
    "pastebin",
    "legacypath",
    "stepwise",
    "setuponly",
    "setupplan",
    "faulthandler",
    "recwarn",
    "monkeypatch",
    "unittest",
    "tmpdir",
    "subtests",
    "debugging",
)


def _run_pytest(
    lab: LabSpec,
    submission: Path,
    skip_hidden: bool,
    captures: Path | None,
    on_check: CheckProgress | None = None,
    backend: str = "docker",
    without_capture: str = "error",
) -> GradingOutcome:
    arguments = [
        str(lab.path),
        "--submission",
        str(submission),
        "-p",
        "no:cacheprovider",
        # It runs the garbage collector at the end of each session, to report exceptions
        # finalizers dropped: half of what pytest itself costs a grading, for a report about
        # the grader's own objects that no grade reads.
        "-p",
        "no:unraisableexception",
        *[option for name in UNUSED_PYTEST_PLUGINS for option in ("-p", f"no:{name}")],
        "--rootdir",
        str(lab.directory),
        "-c",
        str(GRADING_INI),  # keeps any surrounding project's pytest settings out of grading
        "-q",
        # Python-level capture only: pytest's default also points file descriptors 1 and 2
        # at a file while each check runs, and `check`'s live line, written by a thread to
        # the terminal, would go there and stay frozen until the check ended.
        "--capture=sys",
        # A conftest.py beside a spec or above it would run in the grader: no lab needs one.
        "--noconftest",
        # The plugin is passed in (below), also where no package metadata names its entry
        # point (an autograder bundle): the entry point's copy would be a second one.
        "-p",
        "no:socketlab",
        # Nor any other installed plugin: what a grading runs is the grader's alone, and
        # finding them is a scan of every installed package's metadata per grading.
        "--disable-plugin-autoload",
        # No check is a test module whose asserts need rewriting: no import hook to set up.
        "--assert=plain",
        "--backend",
        backend,
        "--without-capture",
        without_capture,
    ]
    if skip_hidden:
        arguments.append("--skip-hidden")
    if lab.hidden_checks_path is not None:
        arguments += ["--hidden-checks", str(lab.hidden_checks_path)]
    if captures is not None:
        arguments += ["--captures", str(captures)]
    collector = _ResultCollector(lab, on_check)
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        exit_code = pytest.main(arguments, plugins=[plugin, collector])
    output = captured.getvalue()
    # pytest caught Ctrl-C (or SIGTERM) and already removed the run's resources; or a signal
    # came where nothing could act on it (see grader.interrupts): the grading is not whole.
    interrupts.raise_if_pending()
    if exit_code == pytest.ExitCode.INTERRUPTED and "KeyboardInterrupt" in output:
        raise KeyboardInterrupt
    config = collector.config
    if config is None:
        bug = GraderBugError(f"pytest did not start (exit {exit_code}):\n{output[-3000:]}")
        return GradingOutcome(None, bug, output)
    failure = plugin.infrastructure_failure(config)
    cleanup = plugin.cleanup_failure(config)
    if failure is None and exit_code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        failure = GraderBugError(
            f"pytest stopped with exit code {int(exit_code)}:\n{output[-3000:]}"
        )
    if failure is not None:
        return GradingOutcome(None, failure, output, cleanup)
    # A check whose judging code raised is in the results with status "error": the
    # submission is graded, that check is not.
    results = tuple(plugin.collected_results(config))
    notes = plugin.submission_notes(config)
    result = SubmissionResult(lab.id, submission, results, notes, missing_files(lab, submission))
    return GradingOutcome(result, None, output, cleanup)


def missing_files(lab: LabSpec, submission: Path) -> tuple[str, ...]:
    """The lab's programs that the folder the grader grades (sandbox.layout) does not hold."""
    programs = tuple(
        service.file
        for service in (lab.services.server, lab.services.client)
        if service is not None
    )
    layout = find_layout(submission, programs)
    return tuple(p for p in programs if not (submission / layout.folder / p).is_file())
