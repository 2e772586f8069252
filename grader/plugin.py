"""The pytest plugin: each lab's spec.yaml becomes one test item per check.

pytest labs/01-tcp-hello --submission path/to/submission
"""

from __future__ import annotations

import shutil
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grader import interrupts
from grader.checks import check_kinds
from grader.checks.base import Verdict
from grader.errors import GraderBugError, InfrastructureError, SpecError
from grader.reporting.feedback import bounded_text, feedback_text
from grader.results import CheckResult, Status
from grader.sandbox import engine, labels
from grader.scenarios.model import Observation, Scenario
from grader.scenarios.run import SubmissionRun
from grader.spec.loader import load_spec
from grader.spec.model import CheckSpec, LabSpec

RESULTS = pytest.StashKey[list[CheckResult]]()
RUNS = pytest.StashKey[dict[Path, SubmissionRun[Any]]]()
INFRASTRUCTURE_FAILURE = pytest.StashKey[InfrastructureError]()
CLEANUP_FAILURE = pytest.StashKey[str]()
LOADED_SPEC = pytest.StashKey[LabSpec]()
"""The spec the caller loaded already (grader.grading): collected as it is, not read again."""

TRACEBACK_LIMIT_CHARS = 8000
"""A grader error's traceback is kept for the instructor up to this size."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("socketlab", "socketlab grading")
    group.addoption(
        "--submission",
        metavar="DIR",
        default=None,
        help="The student's submission to grade (default: the lab directory itself).",
    )
    group.addoption(
        "--backend",
        choices=("docker", "local"),
        default="docker",
        help="where the programs run: in Docker containers (docker, the default) or as local"
        " processes on loopback (local: no isolation unless run as root)",
    )
    group.addoption(
        "--without-capture",
        choices=("error", "not-checked"),
        default="error",
        help="with --backend local where packets cannot be captured (not root, or no tcpdump):"
        " an infrastructure error (error, for grading) or checks marked not checked (for a"
        " student's own check)",
    )
    group.addoption(
        "--captures",
        metavar="DIR",
        default=None,
        help="Keep each packet-level check's capture as DIR/<check id>.pcap.",
    )
    group.addoption(
        "--hidden-checks",
        metavar="FILE",
        default=None,
        help="Add the hidden checks of this private file (see socketlab grade --help).",
    )
    group.addoption(
        "--skip-hidden",
        action="store_true",
        default=False,
        help="Leave out checks marked `hidden: true` (what students run).",
    )


def pytest_configure(config: pytest.Config) -> None:
    submission = config.getoption("--submission", default=None)
    if submission is not None and not Path(submission).is_dir():
        # Every check would fail with "server.py not found": a zero for a typo in a path.
        raise pytest.UsageError(f"--submission {submission}: no such folder")
    config.stash[RESULTS] = []
    config.stash[RUNS] = {}


def pytest_unconfigure(config: pytest.Config) -> None:
    # A Ctrl-C or SIGTERM in the middle of removing containers would leave them behind:
    # it is delivered once they are gone.
    on_docker = config.getoption("--backend", default="docker") == "docker"
    with interrupts.held():
        for run in config.stash.get(RUNS, {}).values():
            try:
                try:
                    run.close()
                finally:
                    # Also what a run interrupted while it was still setting up made (a
                    # container created as Ctrl-C arrived): everything with its run id.
                    run_labels = getattr(run, "labels", None)  # a DockerSubmissionRun's
                    if on_docker and run_labels is not None:
                        labels.sweep(engine.connect(), run_id=run_labels.run_id, stale_only=False)
            except Exception as e:
                # The checks are judged by now; a cleanup that fails (the engine went away)
                # must not turn them into a crash. `socketlab clean` removes what is left.
                problem = (engine.classify(e) if on_docker else None) or e
                config.stash[CLEANUP_FAILURE] = f"{type(problem).__name__}: {problem}"


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name == "spec.yaml":
        return LabFile.from_parent(parent, path=file_path)
    return None


class LabFile(pytest.File):
    def collect(self) -> Iterator[CheckItem]:
        hidden = self.config.getoption("--hidden-checks")
        hidden_path = Path(hidden) if hidden else None
        loaded = self.config.stash.get(LOADED_SPEC, None)
        if (
            loaded is not None
            and loaded.path.resolve() == self.path.resolve()
            and _resolved(loaded.hidden_checks_path) == _resolved(hidden_path)
        ):
            lab = loaded
        else:
            try:
                lab = load_spec(self.path, hidden_path)
            except SpecError as e:
                raise self.CollectError(str(e)) from e
        skip_hidden = bool(self.config.getoption("--skip-hidden"))
        for check in lab.checks:
            if check.hidden and skip_hidden:
                continue
            yield CheckItem.from_parent(self, name=check.id, lab=lab, check=check)


def _resolved(path: Path | None) -> Path | None:
    return path.resolve() if path is not None else None


class CheckFailed(Exception):
    """Raised by a check item whose verdict is a failure."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(feedback_text(result))
        self.result = result


class CheckJudgeError(Exception):
    """Raised by a check item whose kind's judging code raised: a grader bug in that check."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.error_detail or result.error or "")
        self.result = result


class CheckItem(pytest.Item):
    def __init__(self, *, lab: LabSpec, check: CheckSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lab = lab
        self.check = check

    def submission(self) -> Path:
        option = self.config.getoption("--submission")
        return Path(option).resolve() if option else self.lab.directory.resolve()

    def submission_run(self) -> SubmissionRun[Any]:
        runs = self.config.stash[RUNS]
        key = self.lab.path.resolve()
        if key not in runs:
            run_class: type[SubmissionRun[Any]]
            if self.config.getoption("--backend") == "local":
                from grader.scenarios.local_runner import LocalSubmissionRun

                run_class = LocalSubmissionRun
            else:
                from grader.scenarios.runner import DockerSubmissionRun

                run_class = DockerSubmissionRun
            runs[key] = run_class(self.lab, self.submission(), captured_scenarios(self.lab))
        return runs[key]

    def keep_capture(self, observation: object) -> None:
        directory = self.config.getoption("--captures")
        capture = getattr(observation, "capture", None)
        if directory and capture is not None and capture.pcap.exists():
            target = Path(directory) / f"{self.check.id}.pcap"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(capture.pcap, target)

    def runtest(self) -> None:
        interrupts.raise_if_pending()  # a Ctrl-C that came while no check was waiting
        failure = self.config.stash.get(INFRASTRUCTURE_FAILURE, None)
        if failure is not None:
            self.record("error", None, error=str(failure))
            raise failure
        kind = check_kinds()[self.check.kind]
        if kind.judges_packets and not self.can_capture():
            self.not_capturable()
            return
        observation = self.observe(kind.scenario(self.check.params))
        try:
            verdict = kind.verdict(self.check.params, observation, self.lab)
        except Exception as e:
            # A bug in this check's judging code: only this check is not judged; the others
            # and the other submissions go on.
            result = self.record(
                "error",
                None,
                error=(
                    f"the grader's code for this check failed ({type(e).__name__}); this is a"
                    " bug in the grader, not in your program, and your instructor has the details"
                ),
                detail=bounded_text(traceback.format_exc(), TRACEBACK_LIMIT_CHARS),
            )
            raise CheckJudgeError(result) from e
        if kind.uses_capture(self.check.params):
            self.keep_capture(observation)
        result = self.record("passed" if verdict.passed else "failed", verdict)
        if not verdict.passed:
            raise CheckFailed(result)

    def can_capture(self) -> bool:
        if self.config.getoption("--backend") != "local":
            return True
        from grader.sandbox.local import can_capture

        return can_capture()

    def not_capturable(self) -> None:
        """For a check that needs packets where the local backend cannot capture them: marked
        not checked, or, when grading, an infrastructure error (nothing is graded)."""
        reason = "this check reads the packets, and capturing them needs root and tcpdump"
        if self.config.getoption("--without-capture") == "not-checked":
            self.record("not-checked", None, error=reason)
            pytest.skip(f"not checked here: {reason}")
        error = InfrastructureError(
            f"{self.check.id}: {reason}; grade as root with tcpdump installed, or with Docker"
        )
        self.config.stash[INFRASTRUCTURE_FAILURE] = error
        self.record("error", None, error=str(error))
        raise error

    def observe(self, scenario: Scenario) -> Observation:
        """What the submission did in `scenario` (run once per submission, then reused).

        Raises InfrastructureError (EngineLostError when the engine no longer answers) for a
        Docker failure, and GraderBugError for any other exception: observing is the grader's
        own code, so the submission is not graded rather than scored on a broken observation.
        """
        try:
            return self.submission_run().observe(scenario)
        except Exception as e:
            if interrupted(e):
                # Ctrl-C or SIGTERM, then a cleanup step that failed because of it: the
                # interrupt is what happened (pytest stops, and the run's resources are swept).
                raise KeyboardInterrupt from e
            on_docker = self.config.getoption("--backend") == "docker"
            known = engine.classify(e) if on_docker else None
            if not on_docker and isinstance(e, InfrastructureError):
                known = e
            error = known or GraderBugError(
                f"the grader failed while running the submission ({type(e).__name__}: {e})"
            )
            self.config.stash[INFRASTRUCTURE_FAILURE] = error
            detail = bounded_text(traceback.format_exc(), TRACEBACK_LIMIT_CHARS)
            self.record("error", None, error=str(error), detail=detail)
            if error is e:
                raise
            raise error from e

    def record(
        self,
        status: Status,
        verdict: Verdict | None,
        error: str | None = None,
        detail: str | None = None,
    ) -> CheckResult:
        result = CheckResult(
            check_id=self.check.id,
            title=self.check.title,
            kind=self.check.kind,
            max_points=self.check.points,
            points=self.check.points if status == "passed" else 0.0,
            status=status,
            hidden=self.check.hidden,
            verdict=verdict,
            error=error,
            extra_feedback=self.check.feedback,
            error_detail=detail,
        )
        self.config.stash[RESULTS].append(result)
        return result

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | Any:
        if isinstance(excinfo.value, CheckFailed):
            return str(excinfo.value)
        if isinstance(excinfo.value, CheckJudgeError):
            return f"grader error in this check's judging code:\n{excinfo.value}"
        if isinstance(excinfo.value, InfrastructureError):
            return f"infrastructure error (not the submission's fault): {excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        line = self.check.line - 1 if self.check.line else None
        return self.path, line, f"{self.lab.id}::{self.check.id} ({self.check.points:g} points)"


def interrupted(error: BaseException) -> bool:
    """True when a KeyboardInterrupt is among the exceptions `error` was raised while handling."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def captured_scenarios(lab: LabSpec) -> frozenset[Scenario]:
    """The scenarios some check of the lab judges from packets: only those are captured."""
    kinds = check_kinds()
    return frozenset(
        kinds[check.kind].scenario(check.params)
        for check in lab.checks
        if kinds[check.kind].uses_capture(check.params)
    )


def collected_results(config: pytest.Config) -> list[CheckResult]:
    results: list[CheckResult] = config.stash.get(RESULTS, [])
    return list(results)


def submission_notes(config: pytest.Config) -> tuple[str, ...]:
    """What the session's submission runs say about the whole submission (its layout)."""
    runs = config.stash.get(RUNS, {}).values()
    return tuple(run.layout_note for run in runs if run.layout_note is not None)


def infrastructure_failure(config: pytest.Config) -> InfrastructureError | None:
    """Why the session's submission could not be graded, or None when it was."""
    return config.stash.get(INFRASTRUCTURE_FAILURE, None)


def cleanup_failure(config: pytest.Config) -> str | None:
    """What went wrong removing the run's containers after grading, or None."""
    return config.stash.get(CLEANUP_FAILURE, None)
