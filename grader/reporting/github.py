"""What a GitHub Actions job shows of a grading, with nothing a student printed read as a command.

Three outputs, for `socketlab ci` (see the README's "GitHub Classroom"):

- `classroom_result`: the `result` step output that GitHub Classroom's grading reporter
  (classroom-resources/autograding-grading-reporter) reads from each runner step: base64 of
  JSON `{"version": 1, "status", "max_score", "tests": [{"name", "status", "score",
  "message", ...}]}`. The reporter adds up the tests' `score` and `max_score` for the points
  it sends to Classroom, and prints each test's name and message to the job log.
- `step_summary`: markdown for `GITHUB_STEP_SUMMARY`, the page a run shows.
- `CommandSafeStream` and `commands_stopped`: the log itself. The Actions runner takes a line
  as a workflow command when, after leading whitespace, it starts with `::` (`::error::…`),
  or when it holds `##[` anywhere (the old form); command names are matched ignoring case
  (actions/runner, src/Runner.Common/ActionCommand.cs and
  src/Runner.Worker/ActionCommandManager.cs). A student's program can print such lines, and
  its output reaches the log inside feedback (stderr lines, reprs).

Hidden checks (`hidden: true`) never appear by name, feedback or capture in any of these:
they count as one line with their points.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from grader.reporting.feedback import bounded_text, code_block, feedback_text
from grader.results import CheckResult, SubmissionResult

CLASSROOM_RESULT_VERSION = 1
MESSAGE_LIMIT_CHARS = 1000
"""A test's message in the Classroom result: the reporter prints it whole in the log."""
SUMMARY_FEEDBACK_LIMIT_CHARS = 3000


def neutralised(text: str) -> str:
    """`text` with no line the Actions runner would read as a workflow command.

    Shapes: str to str, lines kept. Characters that are not printable (controls, `\\r`,
    which the runner also splits lines at) and those .NET's culture-aware matching ignores
    (zero-width and format characters, combining marks, IGNORED_PRINTABLE) are shown as
    escapes (`\\r`, `\\u200b`); a line whose
    text starts with `:` after leading whitespace gets a `\\` before it; a `[` that follows
    `#` gets a `\\` before it. Tabs and newlines stay.
    """
    return "\n".join(_neutralised_line(line) for line in text.split("\n"))


def _neutralised_line(line: str) -> str:
    shown = "".join(
        ch if ch == "\t" or (ch.isprintable() and not _ignorable(ch)) else _escape(ch)
        for ch in line
    )
    out: list[str] = []
    for ch in shown:
        if ch == "[" and out and out[-1] == "#":
            out.append("\\")
        out.append(ch)
    safe = "".join(out)
    if safe.lstrip().startswith(":"):
        safe = "\\" + safe
    return safe


IGNORED_PRINTABLE = frozenset("\u0640\u07fa\u180a\ufe73")
"""Printable letters and marks that ICU's root collation ignores entirely (Arabic tatweel,
N'Ko lajanyalan, Mongolian nirugu, Arabic tail fragment)."""


def _ignorable(ch: str) -> bool:
    # Combining marks, variation selectors and a few letters: printable, but ignored or
    # merged by a culture-aware comparison, so `#\u034f#[` could still match `##[`.
    return unicodedata.category(ch) in ("Mn", "Mc", "Me", "Cf") or ch in IGNORED_PRINTABLE


def _escape(ch: str) -> str:
    escaped = repr(ch)[1:-1]
    if escaped == ch:  # printable to repr, but ignorable: \uXXXX by hand
        escaped = f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}"
    return escaped


class CommandSafeStream(io.TextIOBase):
    """A text stream that writes `neutralised` whole lines to `target`.

    A line is written once it ends; `close()` writes what is left (with a newline). So a
    command split over two writes (`:` then `:error::…`) is still seen whole.
    """

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self._pending = ""

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", None) or "utf-8"

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            complete, _, self._pending = self._pending.rpartition("\n")
            self.target.write(neutralised(complete) + "\n")
        return len(text)

    def flush(self) -> None:
        self.target.flush()

    def close(self) -> None:
        if self._pending:
            self.target.write(neutralised(self._pending) + "\n")
            self._pending = ""
        self.flush()
        super().close()


@contextmanager
def commands_stopped(stdout: TextIO, stderr: TextIO) -> Iterator[tuple[TextIO, TextIO]]:
    """Streams for the step's output while the runner reads no workflow commands.

    Writes `::stop-commands::TOKEN` (a random token the program cannot have printed) to
    `stdout` first and `::TOKEN::` last; in between, both streams given back are
    CommandSafeStreams, a second guard for a runner that interleaves the two pipes.
    """
    token = secrets.token_hex(16)
    stdout.write(f"::stop-commands::{token}\n")
    stdout.flush()
    safe_out, safe_err = CommandSafeStream(stdout), CommandSafeStream(stderr)
    try:
        yield safe_out, safe_err  # type: ignore[misc]
    finally:
        safe_err.close()
        safe_out.close()
        stdout.write(f"::{token}::\n")
        stdout.flush()


def _status(check: CheckResult) -> str:
    return {"passed": "pass", "failed": "fail"}.get(check.status, "error")


def classroom_document(result: SubmissionResult) -> dict[str, Any]:
    """The Classroom runner result (see the module's docstring) as a dict.

    One test per visible check (`score` its points, `max_score` its weight, `message` its
    feedback, neutralised and bounded), then one test for all hidden checks together.
    `status` is "pass" once graded, whatever the score: a low score does not fail the
    reporter's step (`socketlab ci --fail-under` fails the job when asked to). `max_score`
    is the sum of the tests' max_score, added in their order as the reporter adds them.
    """
    visible, hidden = result.visible, result.hidden
    tests = [
        {
            "name": neutralised(check.title),
            "status": _status(check),
            "score": check.points,
            "max_score": check.max_points,
            "message": neutralised(bounded_text(feedback_text(check), MESSAGE_LIMIT_CHARS)),
            "test_code": check.check_id,
            "filename": "",
            "line_no": 0,
            "execution_time": "",
        }
        for check in visible
    ]
    if hidden:
        points = sum(check.points for check in hidden)
        max_points = sum(check.max_points for check in hidden)
        tests.append(
            {
                "name": f"{len(hidden)} hidden check(s)",
                "status": "pass" if all(c.status == "passed" for c in hidden) else "fail",
                "score": points,
                "max_score": max_points,
                "message": f"{points:g} of {max_points:g} points; the course keeps these hidden",
                "test_code": "hidden",
                "filename": "",
                "line_no": 0,
                "execution_time": "",
            }
        )
    max_score = 0.0
    for check in visible:
        max_score += check.max_points
    if hidden:
        max_score += sum(check.max_points for check in hidden)
    return {
        "version": CLASSROOM_RESULT_VERSION,
        "status": "pass",
        "max_score": max_score,
        "tests": tests,
    }


def classroom_result(result: SubmissionResult) -> str:
    """`classroom_document` as the reporter reads it: base64 of its JSON, on one line."""
    document = json.dumps(classroom_document(result), separators=(",", ":"))
    return base64.b64encode(document.encode()).decode("ascii")


def step_summary(result: SubmissionResult) -> str:
    """Markdown for GITHUB_STEP_SUMMARY: the total, a table of checks, failures' feedback.

    Check titles are escaped for a table cell; feedback goes in a code block whose fence is
    longer than any run of backticks in it, so nothing the program printed becomes markdown
    or HTML.
    """
    visible, hidden = result.visible, result.hidden
    marks = {"passed": "✅", "failed": "❌", "error": "⚠️"}
    lines = [
        f"## socketlab: {_cell(result.lab_id)}: {result.score:g} / {result.max_score:g} points",
        "",
        "| | check | points |",
        "|---|---|---|",
    ]
    for check in visible:
        lines.append(
            f"| {marks[check.status]} | {_cell(check.title)} (`{_cell(check.check_id)}`)"
            f" | {check.points:g} / {check.max_points:g} |"
        )
    if hidden:
        points = sum(check.points for check in hidden)
        max_points = sum(check.max_points for check in hidden)
        lines.append(f"| 🔒 | {len(hidden)} hidden check(s) | {points:g} / {max_points:g} |")
    for check in visible:
        if check.status == "passed":
            continue
        text = neutralised(bounded_text(feedback_text(check), SUMMARY_FEEDBACK_LIMIT_CHARS))
        lines += [
            "",
            f"<details><summary>{marks[check.status]} {_html(check.title)}</summary>",
            "",
            code_block(text),
            "",
            "</details>",
        ]
    return "\n".join(lines) + "\n"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cell(text: str) -> str:
    return _html(neutralised(text)).replace("|", "\\|").replace("\n", " ")
