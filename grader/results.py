"""Results as plain data: what each check concluded, and a submission's total."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from grader.checks.base import Verdict

Status = Literal["passed", "failed", "error", "not-checked"]
"""`not-checked`: the check could not run here (the local backend without packet capture,
in `socketlab check` only); it counts neither as passed nor as failed, nor in max_score."""


@dataclass(frozen=True)
class CheckResult:
    check_id: str
    title: str
    kind: str
    max_points: float
    points: float
    status: Status
    hidden: bool
    verdict: Verdict | None = None
    error: str | None = None
    """For status "error": one line on what went wrong in the grader or Docker (never the
    student); this is what the student reads."""
    extra_feedback: str | None = None
    error_detail: str | None = None
    """For status "error": the traceback, for the instructor (junit.xml, results.json's
    hidden stdout), never shown to the student."""


@dataclass(frozen=True)
class SubmissionResult:
    lab_id: str
    submission: Path
    checks: tuple[CheckResult, ...]
    notes: tuple[str, ...] = ()
    """Sentences about the whole submission, not one check (a sub-folder was graded)."""
    missing_files: tuple[str, ...] = ()
    """The lab's programs (`server.py`, `client.py`) the graded folder does not hold."""

    @property
    def score(self) -> float:
        return sum(check.points for check in self.checks)

    @property
    def max_score(self) -> float:
        return sum(check.max_points for check in self.checks if check.status != "not-checked")

    @property
    def not_checked(self) -> tuple[CheckResult, ...]:
        """The checks that could not run here (see Status)."""
        return tuple(check for check in self.checks if check.status == "not-checked")

    @property
    def visible(self) -> tuple[CheckResult, ...]:
        """The checks a student may read about."""
        return tuple(check for check in self.checks if not check.hidden)

    @property
    def hidden(self) -> tuple[CheckResult, ...]:
        """The hidden checks graded: a student sees their points alone, never their names."""
        return tuple(check for check in self.checks if check.hidden)

    @property
    def errors(self) -> tuple[CheckResult, ...]:
        return tuple(check for check in self.checks if check.status == "error")

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        """The checks the submission failed; grader errors are counted apart (`errors`)."""
        return tuple(check for check in self.checks if check.status == "failed")

    @property
    def all_passed(self) -> bool:
        return all(check.status in ("passed", "not-checked") for check in self.checks)
