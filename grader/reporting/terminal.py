"""The student's report in the terminal, with rich."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from grader.reporting.feedback import feedback_lines
from grader.results import SubmissionResult

MARKS = {"passed": ("✔", "green"), "failed": ("✘", "red"), "error": ("!", "yellow")}


def print_report(
    console: Console, result: SubmissionResult, *, hidden_skipped: int = 0, verbose: bool = False
) -> None:
    console.print(f"[bold]{escape(result.lab_id)}[/] — submission {escape(str(result.submission))}")
    console.print()
    for check in result.checks:
        mark, colour = MARKS[check.status]
        line = Text()
        line.append(f" {mark} ", style=f"bold {colour}")
        line.append(f"{check.title}", style="bold" if check.status != "passed" else "")
        line.append(f"  [{check.points:g}/{check.max_points:g}]", style="dim")
        line.append(f"  {check.check_id}", style="dim")
        console.print(line)
        if check.status != "passed" or verbose:
            for feedback in feedback_lines(check, verbose=verbose):
                console.print(Text(f"     {feedback}"))
    console.print()
    total_style = "bold green" if result.all_passed else "bold"
    console.print(
        f"[{total_style}]Total: {result.score:g} / {result.max_score:g}[/]"
        + (f"  ({hidden_skipped} hidden checks run only when graded)" if hidden_skipped else "")
    )
