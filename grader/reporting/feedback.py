"""A check result as the plain lines of feedback a student reads."""

from __future__ import annotations

from grader.results import CheckResult


def feedback_lines(result: CheckResult, *, verbose: bool = False) -> list[str]:
    """The summary; for a failure also expected, received, cause and details.

    With `verbose`, a passed check's packet diagram is shown too.
    """
    if result.status == "error":
        return [f"not graded: {result.error}"]
    verdict = result.verdict
    if verdict is None:
        return []
    lines = [verdict.summary]
    if verdict.passed:
        if verbose and verdict.diagram:
            lines.extend(f"  {line}" for line in verdict.diagram)
        return lines
    if verdict.expected is not None:
        lines.append(f"  expected: {verdict.expected}")
    if verdict.received is not None:
        lines.append(f"  received: {verdict.received}")
    if verdict.cause:
        lines.append(f"  likely cause: {verdict.cause}")
    lines.extend(f"  {line}" for line in verdict.details)
    if verdict.diagram:
        lines.append("  the packets on the wire:")
        lines.extend(f"  {line}" for line in verdict.diagram)
    if result.extra_feedback:
        lines.append(f"  {result.extra_feedback}")
    return lines


def feedback_text(result: CheckResult) -> str:
    return "\n".join(feedback_lines(result))
