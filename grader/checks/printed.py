"""Judges whether a program's output carries a text anywhere, whatever line format it used.

For checks whose point is that the whole text arrived (a reading loop, a conversation between
two programs), not how the line around it looks: that is the point of another check.
"""

from __future__ import annotations

from grader.checks.base import Verdict
from grader.checks.diagnosis import shown, stderr_tail, still_running
from grader.scenarios.model import ProgramRun
from grader.spec.model import LabSpec


def contains_text(run: ProgramRun, text: str) -> bool:
    """Whether `text` (UTF-8) appears anywhere in what the program printed on stdout."""
    return text.encode() in run.stdout


def missing_text(run: ProgramRun, text: str, lab: LabSpec) -> Verdict | None:
    """A failing verdict when `text` is nowhere in the program's stdout, else None."""
    if contains_text(run, text):
        return None
    if run.timed_out and not run.stdout.strip():
        return still_running(run, lab)
    expected = f"{text!r} somewhere in the output"
    if run.output_cut:
        return Verdict(
            passed=False,
            summary=f"{run.file} printed more than the grader keeps ({lab.limits.output_kb} KB)",
            expected=expected,
            received=shown(run.stdout),
            cause="A flood of output pushes earlier lines out of the log: print only what the"
            " README asks for.",
        )
    part = longest_start_at_line_end(run.stdout_text, text)
    if part:
        cause = (
            f"Only the start of it, {part!r}, was printed: TCP is a byte stream and one recv()"
            " returned only part of the data. Call recv() in a loop until it returns b''"
            " (the other side closed), then print everything at once."
        )
    elif run.stdout.strip():
        cause = "Print what the server sent, decoded as text (data.decode())."
    else:
        cause = "Nothing was printed: print what the server sent, once it has all arrived."
    return Verdict(
        passed=False,
        summary=f"{text!r} is not in the program's output",
        expected=expected,
        received=shown(run.stdout) if run.stdout.strip() else "nothing on stdout",
        cause=cause,
        details=stderr_tail(run),
    )


def longest_start_at_line_end(output: str, text: str) -> str:
    """The longest proper start of `text` that ends a line of `output` ("" if none).

    A line that ends with "Hel" when "Hello, Client!" was expected printed one piece only.
    """
    for line in output.splitlines():
        line = line.rstrip("\r")
        for size in range(len(text) - 1, 0, -1):
            if line.endswith(text[:size]):
                return text[:size]
    return ""
