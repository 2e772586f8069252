"""gradebook.csv: one row per submission, one column per check."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.results import SubmissionResult
from grader.spec.model import LabSpec


@dataclass(frozen=True)
class GradebookRow:
    name: str
    result: SubmissionResult | None
    problem: str | None = None
    """Why a submission has no scores (an infrastructure failure): never written as zero."""


def write_gradebook(lab: LabSpec, rows: Sequence[GradebookRow], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    check_ids = [check.id for check in lab.checks]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", "status", "score", "max_score", *check_ids])
        for row in rows:
            if row.result is None:
                blanks = [""] * (2 + len(check_ids))
                writer.writerow([row.name, f"not graded: {row.problem}", *blanks])
                continue
            points = {check.check_id: check.points for check in row.result.checks}
            writer.writerow(
                [
                    row.name,
                    "graded",
                    f"{row.result.score:g}",
                    f"{row.result.max_score:g}",
                    *(
                        f"{points[check_id]:g}" if check_id in points else ""
                        for check_id in check_ids
                    ),
                ]
            )
