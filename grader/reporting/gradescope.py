"""Gradescope's results.json for one submission, bounded in size and written atomically.

The format is Gradescope's autograder specification ("Output format": top-level `score`,
`output` (text about the whole submission), `stdout`, `visibility`, `stdout_visibility`, and
`tests` with `name`, `number`, `score`, `max_score`, `status`, `output`, `visibility`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.reporting.atomic import write_atomically
from grader.reporting.feedback import bounded_text, feedback_text
from grader.results import SubmissionResult

RESULTS_LIMIT_BYTES = 512 * 1024
"""A results.json stays under this, whatever the submission printed and however many checks."""
GRADER_ERRORS_LIMIT_CHARS = 32 * 1024
"""The instructor-only record of grader errors (tracebacks) in `stdout`."""


def results_json(result: SubmissionResult) -> dict[str, Any]:
    """The results.json document; grader errors' tracebacks go to the hidden `stdout`.

    Each test's `output` is bounded (feedback_text), and the outputs are shortened further
    when the document would pass RESULTS_LIMIT_BYTES.
    """
    outputs = [feedback_text(check) for check in result.checks]
    document = _document(result, outputs)
    budget = RESULTS_LIMIT_BYTES // 2 // max(len(outputs), 1)
    if len(json.dumps(document, indent=2)) > RESULTS_LIMIT_BYTES:
        document = _document(result, [bounded_text(output, budget) for output in outputs])
    return document


def _document(result: SubmissionResult, outputs: list[str]) -> dict[str, Any]:
    errors = [
        f"{check.check_id}: {check.error}\n{check.error_detail or ''}" for check in result.errors
    ]
    return {
        "score": result.score,
        "output": bounded_text("\n".join(result.notes)),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "stdout": bounded_text("\n\n".join(errors), GRADER_ERRORS_LIMIT_CHARS),
        "tests": [
            {
                "name": f"{check.check_id}: {check.title}",
                "number": str(number),
                "score": check.points,
                "max_score": check.max_points,
                "status": "passed" if check.status == "passed" else "failed",
                "output": output,
                "visibility": "after_published" if check.hidden else "visible",
            }
            for number, (check, output) in enumerate(
                zip(result.checks, outputs, strict=True), start=1
            )
        ],
    }


def write_results_json(result: SubmissionResult, path: Path) -> None:
    """Writes results.json so that `path` is either absent or complete, never half-written."""
    write_atomically(path, json.dumps(results_json(result), indent=2) + "\n")
