"""gradebook.csv: one row per submission, one column per check, rewritten atomically.

Columns: `submission` (the name of its folder in --out), `path` (the submission directory
graded), `status`, `score`, `max_score`, then one per check id. `status` is `graded`,
`missing files: client.py` (graded, without a program the lab needs), `not graded: <reason>`
(no scores: never a zero), or either graded form followed by `; grader error in: <ids>`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.reporting.atomic import write_atomically
from grader.reporting.names import printable, spreadsheet_text
from grader.results import CheckResult, SubmissionResult
from grader.spec.model import LabSpec


@dataclass(frozen=True)
class GradebookRow:
    name: str
    result: SubmissionResult | None
    problem: str | None = None
    """Why a submission has no scores (an infrastructure failure): never written as zero."""
    path: Path | None = None
    """The submission directory (the graded result's own when None)."""


def write_gradebook(lab: LabSpec, rows: Sequence[GradebookRow], path: Path) -> None:
    """Writes `rows` to `path` (CSV, UTF-8) through a temporary file and a rename.

    Readers, and a grader killed while writing, see the previous gradebook or this one, never
    half of one. A check a grader error left unjudged has `error` in its column, never 0;
    names are written with printable() so a folder name that is not UTF-8 cannot stop it.
    """
    check_ids = [check.id for check in lab.checks]
    text = io.StringIO()
    writer = _SafeWriter(text)
    writer.writerow(["submission", "path", "status", "score", "max_score", *check_ids])
    for row in rows:
        name = printable(row.name)
        where = printable(str(row.path)) if row.path is not None else ""
        if row.result is None:
            blanks = [""] * (2 + len(check_ids))
            problem = printable(" ".join((row.problem or "unknown").split()))
            writer.writerow([name, where, f"not graded: {problem}", *blanks])
            continue
        checks = {check.check_id: check for check in row.result.checks}
        writer.writerow(
            [
                name,
                where or printable(str(row.result.submission)),
                status(row.result),
                f"{row.result.score:g}",
                f"{row.result.max_score:g}",
                *(cell(checks.get(check_id)) for check_id in check_ids),
            ]
        )
    write_atomically(path, text.getvalue())


class _SafeWriter:
    """csv.writer whose cells are spreadsheet_text: a folder named `=HYPERLINK(...)` is text."""

    def __init__(self, stream: io.StringIO) -> None:
        self._writer = csv.writer(stream)

    def writerow(self, row: Sequence[str]) -> None:
        self._writer.writerow([spreadsheet_text(cell) for cell in row])


def status(result: SubmissionResult) -> str:
    """`graded` or `missing files: <programs>`, then `; grader error in: <check ids>` when
    some check was not judged."""
    text = "graded"
    if result.missing_files:
        text = "missing files: " + " ".join(result.missing_files)
    if result.errors:
        text += "; grader error in: " + " ".join(check.check_id for check in result.errors)
    return text


def cell(check: CheckResult | None) -> str:
    if check is None:
        return ""
    if check.status == "error":
        return "error"
    return f"{check.points:g}"
