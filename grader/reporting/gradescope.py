"""Gradescope's results.json for one submission."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.reporting.feedback import feedback_text
from grader.results import SubmissionResult


def results_json(result: SubmissionResult) -> dict[str, Any]:
    return {
        "score": result.score,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [
            {
                "name": f"{check.check_id}: {check.title}",
                "number": str(number),
                "score": check.points,
                "max_score": check.max_points,
                "status": "passed" if check.status == "passed" else "failed",
                "output": feedback_text(check),
                "visibility": "after_published" if check.hidden else "visible",
            }
            for number, check in enumerate(result.checks, start=1)
        ],
    }


def write_results_json(result: SubmissionResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results_json(result), indent=2) + "\n", encoding="utf-8")
