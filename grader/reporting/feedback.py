"""A check result as the plain lines of feedback a student reads, bounded in size."""

from __future__ import annotations

import re

from grader.results import CheckResult

LINE_LIMIT_CHARS = 400
"""A longer line (a long repr of bytes, a flood printed on one line) is elided in the middle."""
LINES_LIMIT = 60
"""A longer list of lines (a long ladder, many details) keeps its start and its end."""
FEEDBACK_LIMIT_CHARS = 4000
"""One check's whole feedback text stays under this, whatever the submission printed."""


def _elided(text: str, limit_chars: int, between: str) -> str:
    """`text` itself, or its first two thirds and last third of what fits, with a count between.

    `between` is the separator around the count (" " within a line, "\n" in a text).
    """
    if len(text) <= limit_chars:
        return text
    keep = max(limit_chars - 60, 40)
    head, tail = keep * 2 // 3, keep // 3
    left_out = len(text) - head - tail
    return f"{text[:head]}{between}… [{left_out} characters left out] …{between}{text[-tail:]}"


def bounded_line(line: str, limit_chars: int = LINE_LIMIT_CHARS) -> str:
    """`line` itself, or its start and end with the number of characters left out between."""
    return _elided(line, limit_chars, " ")


def bounded_lines(lines: list[str], limit: int = LINES_LIMIT) -> list[str]:
    """Each line bounded; past `limit` lines, the first and last ones with a count between."""
    lines = [bounded_line(line) for line in lines]
    if len(lines) <= limit:
        return lines
    head, tail = limit * 2 // 3, limit // 3 - 1
    left_out = len(lines) - head - tail
    return [*lines[:head], f"  … [{left_out} lines left out] …", *lines[-tail:]]


def bounded_text(text: str, limit_chars: int = FEEDBACK_LIMIT_CHARS) -> str:
    """`text` itself, or its start and end with the number of characters left out between."""
    return _elided(text, limit_chars, "\n")


def feedback_lines(result: CheckResult, *, verbose: bool = False) -> list[str]:
    """The summary; for a failure also expected, received, cause and details.

    With `verbose`, a passed check's packet diagram is shown too. At most LINES_LIMIT lines
    of at most about LINE_LIMIT_CHARS characters each.
    """
    return bounded_lines(_all_lines(result, verbose=verbose))


def _all_lines(result: CheckResult, *, verbose: bool) -> list[str]:
    if result.status == "error":
        return [f"not graded: {result.error}"]
    if result.status == "not-checked":
        return [f"not checked here: {result.error}"]
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
    """The feedback as one text of at most about FEEDBACK_LIMIT_CHARS characters."""
    return bounded_text("\n".join(feedback_lines(result)))


def code_block(text: str, info: str = "text") -> str:
    """`text` as a fenced markdown code block whose fence is longer than any run of
    backticks in it: nothing inside (a program's output) can close it or become markdown."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"
