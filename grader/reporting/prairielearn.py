"""PrairieLearn's external-grader results.json for one submission.

The format is PrairieLearn's ("External Grading", Grading results): `gradable`, `score` as a
fraction from 0 to 1, `message`, `output`, and `tests` with `name`, `description`,
`points`, `max_points`, `message` and `output`, rendered by `<pl-external-grader-results>`.
A submission that could not be graded is `gradable: false` with `format_errors`: it costs
the student no attempt and no points. The file stays under PrairieLearn's 1 MB.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.reporting.atomic import write_atomically
from grader.reporting.feedback import bounded_text, feedback_text
from grader.reporting.gradescope import summary
from grader.reporting.terminal import report_text
from grader.results import SubmissionResult

RESULTS_LIMIT_BYTES = 512 * 1024
"""Half of PrairieLearn's 1 MB limit, whatever the submission printed."""


def results_json(result: SubmissionResult) -> dict[str, Any]:
    """The results.json document: hidden checks count, but show only as their points."""
    outputs = [feedback_text(check) for check in result.checks]
    document = _document(result, outputs)
    if len(json.dumps(document)) > RESULTS_LIMIT_BYTES:
        budget = RESULTS_LIMIT_BYTES // 2 // max(len(outputs), 1)
        document = _document(result, [bounded_text(output, budget) for output in outputs])
    return document


def _document(result: SubmissionResult, outputs: list[str]) -> dict[str, Any]:
    tests = [
        {
            "name": check.title if not check.hidden else "hidden check",
            "description": check.check_id if not check.hidden else "",
            "points": check.points,
            "max_points": check.max_points,
            "message": "passed" if check.status == "passed" else "not passed",
            "output": output if not check.hidden else "",
        }
        for check, output in zip(result.checks, outputs, strict=True)
    ]
    return {
        "gradable": True,
        "score": result.score / result.max_score if result.max_score else 0.0,
        # Shown as it is, in a <pre>: plain text, not Gradescope's markdown.
        "message": summary(result, markdown=False),
        "output": bounded_text(report_text(result)),
        "tests": tests,
    }


def not_graded_json(reason: str) -> dict[str, Any]:
    """results.json for a submission the grader could not grade: not gradable, no points lost."""
    return {
        "gradable": False,
        "format_errors": [
            "Not graded: the autograder could not run the checks (not your program's fault):"
            f" {bounded_text(reason, 4000)}"
        ],
        "message": "not graded: an infrastructure error",
    }


def write_results_json(result: SubmissionResult, path: Path) -> None:
    """Writes results_json(result) to `path`, atomically."""
    write_atomically(path, json.dumps(results_json(result), indent=2) + "\n")


def write_not_graded(reason: str, path: Path) -> None:
    """Writes not_graded_json(reason) to `path`, atomically."""
    write_atomically(path, json.dumps(not_graded_json(reason), indent=2) + "\n")
