"""Gradescope's results.json for one submission, bounded in size and written atomically.

The format is Gradescope's autograder specification ("Output format": top-level `score`,
`execution_time` (seconds), `output` (text about the whole submission), `output_format` and
`test_output_format` (here "md": markdown), `stdout`, `visibility`, `stdout_visibility`, and
`tests` with `name`, `number`, `score`, `max_score`, `status`, `output`, `visibility`).

Each test's output is its feedback in a markdown code block, so the packet ladders keep their
columns and nothing a program printed is read as markdown or HTML.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.reporting.atomic import write_atomically
from grader.reporting.feedback import bounded_text, code_block, feedback_text
from grader.results import SubmissionResult

RESULTS_LIMIT_BYTES = 512 * 1024
"""A results.json stays under this, whatever the submission printed and however many checks."""
GRADER_ERRORS_LIMIT_CHARS = 32 * 1024
"""The instructor-only record of grader errors (tracebacks) in `stdout`."""


def results_json(result: SubmissionResult, elapsed_s: float | None = None) -> dict[str, Any]:
    """The results.json document; grader errors' tracebacks go to the hidden `stdout`.

    `elapsed_s`, the grading's time in seconds, is `execution_time` (whole seconds) when
    given. Each test's `output` is bounded (feedback_text), and the outputs are shortened
    further when the document would pass RESULTS_LIMIT_BYTES.
    """
    outputs = [feedback_text(check) for check in result.checks]
    document = _document(result, outputs, elapsed_s)
    budget = RESULTS_LIMIT_BYTES // 2 // max(len(outputs), 1)
    if len(json.dumps(document, indent=2)) > RESULTS_LIMIT_BYTES:
        shorter = [bounded_text(output, budget) for output in outputs]
        document = _document(result, shorter, elapsed_s)
    return document


def summary(result: SubmissionResult, *, markdown: bool = True) -> str:
    """The top-level `output`: the score, how many checks passed, and the notes; markdown,
    or plain text (`markdown=False`) for a page that shows it as it is (PrairieLearn's)."""
    passed = sum(1 for check in result.checks if check.status == "passed")
    score = f"{result.score:g} / {result.max_score:g} points"
    lines = [
        f"{f'**{score}**' if markdown else score}: {passed} of {len(result.checks)} checks passed."
    ]
    if result.missing_files:
        lines.append(
            f"Not found in the submission: {', '.join(result.missing_files)}; the checks that"
            " run it fail."
        )
    if result.errors:
        lines.append(
            f"{len(result.errors)} check(s) could not be judged because of a grader error"
            " (not your program's fault); they count 0 until it is fixed."
        )
    if result.notes:
        notes = "\n".join(result.notes)
        lines += ["", code_block(notes) if markdown else notes]
    return "\n".join(lines)


def _document(
    result: SubmissionResult, outputs: list[str], elapsed_s: float | None
) -> dict[str, Any]:
    errors = [
        f"{check.check_id}: {check.error}\n{check.error_detail or ''}" for check in result.errors
    ]
    return {
        "score": result.score,
        **({"execution_time": round(elapsed_s)} if elapsed_s is not None else {}),
        "output": bounded_text(summary(result)),
        "output_format": "md",
        "test_output_format": "md",
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
                "output": code_block(output) if output else "",
                "visibility": "after_published" if check.hidden else "visible",
            }
            for number, (check, output) in enumerate(
                zip(result.checks, outputs, strict=True), start=1
            )
        ],
    }


def write_results_json(
    result: SubmissionResult, path: Path, elapsed_s: float | None = None
) -> None:
    """Writes results.json so that `path` is either absent or complete, never half-written."""
    write_atomically(path, json.dumps(results_json(result, elapsed_s), indent=2) + "\n")


def not_graded_json(reason: str) -> dict[str, Any]:
    """results.json for a submission the autograder could not grade (an infrastructure
    failure): no test, and a top-level output that says so, never a bare zero."""
    return {
        "score": 0.0,
        "output": (
            "**Not graded.** The autograder could not run the checks, which is not your"
            " program's fault; your instructor can regrade once it is fixed.\n\n"
            + code_block(bounded_text(reason))
        ),
        "output_format": "md",
        "visibility": "visible",
        "tests": [],
        "extra_data": {"socketlab_not_graded": True},
    }


def write_not_graded(reason: str, path: Path) -> None:
    """Writes not_graded_json(reason) to `path`, atomically."""
    write_atomically(path, json.dumps(not_graded_json(reason), indent=2) + "\n")
