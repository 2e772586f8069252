"""The student's report in the terminal, with rich."""

from __future__ import annotations

import io

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from grader.reporting.feedback import code_block, feedback_lines
from grader.reporting.names import printable
from grader.results import SubmissionResult

MARKS = {
    "passed": ("✔", "green"),
    "failed": ("✘", "red"),
    "error": ("!", "yellow"),
    "not-checked": ("○", "dim"),
}
HIDDEN_MARK = "•"


def print_report(
    console: Console, result: SubmissionResult, *, hidden_skipped: int = 0, verbose: bool = False
) -> None:
    """Each check with its points, feedback under the ones not passed, then the total.

    Hidden checks in `result` (graded by `socketlab ci`) show as one line with their points;
    `hidden_skipped` counts hidden checks that were not run (`socketlab check`).
    """
    submission = escape(printable(str(result.submission)))
    console.print(f"[bold]{escape(result.lab_id)}[/] — submission {submission}")
    for note in result.notes:
        console.print(Text(f"note: {note}", style="yellow"))
    console.print()
    for check in result.visible:
        mark, colour = MARKS[check.status]
        line = Text()
        line.append(f" {mark} ", style=f"bold {colour}")
        line.append(f"{check.title}", style="bold" if check.status != "passed" else "")
        if check.status == "not-checked":
            line.append(f"  [not counted: {check.max_points:g}]", style="dim")
        else:
            line.append(f"  [{check.points:g}/{check.max_points:g}]", style="dim")
        line.append(f"  {check.check_id}", style="dim")
        console.print(line)
        if check.status != "passed" or verbose:
            for feedback in feedback_lines(check, verbose=verbose):
                console.print(Text(f"     {feedback}"))
    if hidden := result.hidden:
        # Graded hidden checks (socketlab ci): their points only, never their names.
        points = sum(check.points for check in hidden)
        line = Text(f" {HIDDEN_MARK} {len(hidden)} hidden check(s)")
        line.append(f"  [{points:g}/{sum(c.max_points for c in hidden):g}]", style="dim")
        console.print(line)
    console.print()
    total_style = "bold green" if result.all_passed else "bold"
    console.print(
        f"[{total_style}]Total: {result.score:g} / {result.max_score:g}[/]"
        + (f"  ({hidden_skipped} hidden checks run only when graded)" if hidden_skipped else "")
    )
    if result.not_checked:
        console.print(
            f"[dim]{len(result.not_checked)} check(s) need packet capture, which this machine"
            " does not allow (root and tcpdump, or Docker): they are not in the total.[/]"
        )
    if result.errors:
        console.print(
            f"[yellow]{len(result.errors)} check(s) could not be judged because of a grader"
            " error (not your program's fault); they count 0 until it is fixed.[/]"
        )


def counts(result: SubmissionResult) -> str:
    """`7 / 15 (2 failed)`, with grader errors counted apart from failures."""
    parts = [f"{len(result.failures)} failed"] if result.failures else []
    if result.errors:
        parts.append(f"{len(result.errors)} grader error{'s' if len(result.errors) > 1 else ''}")
    suffix = f" ({', '.join(parts)})" if parts else ""
    return f"{result.score:g} / {result.max_score:g}{suffix}"


def feedback_markdown(result: SubmissionResult) -> str:
    """feedback.md: the report `socketlab check` prints, word for word, for the student.

    Hidden checks show as their points only (as `socketlab ci` prints them). The report is
    in a code block, so its columns stay and nothing a program printed becomes markdown.
    """
    title = f"# {result.lab_id}: {result.score:g} / {result.max_score:g} points"
    return f"{title}\n\n{code_block(report_text(result))}\n"


def report_text(result: SubmissionResult) -> str:
    """The report `socketlab check` prints, as plain text (hidden checks as their points)."""
    console = Console(record=True, width=100, file=io.StringIO(), color_system=None, soft_wrap=True)
    print_report(console, result)
    return console.export_text(styles=False).rstrip("\n")
