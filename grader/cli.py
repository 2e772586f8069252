"""The `socketlab` command: check (students), grade (instructors), image, clean."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.text import Text

from grader import __version__
from grader.errors import (
    GraderBugError,
    InfrastructureError,
    LabNotFoundError,
    SocketlabError,
    SpecError,
)
from grader.grading import GradingOutcome, grade_submission
from grader.labs import find_lab
from grader.reporting.gradebook import GradebookRow, write_gradebook
from grader.reporting.gradescope import write_results_json
from grader.reporting.names import printable
from grader.reporting.terminal import counts, print_report
from grader.sandbox import engine, image, labels, scratch
from grader.spec.loader import load_spec

EXIT_ALL_PASSED = 0
EXIT_SOME_FAILED = 1
EXIT_INFRASTRUCTURE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="socketlab", description="Grade socket-programming labs in Docker containers."
    )
    parser.add_argument("--version", action="version", version=f"socketlab {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser("check", help="check your own work on a lab (students)")
    check.add_argument("lab", metavar="LAB", help="lab id (e.g. 01-tcp-hello) or lab directory")
    check.add_argument(
        "--submission",
        type=Path,
        default=None,
        metavar="DIR",
        help="directory with your server.py and client.py (default: the lab directory)",
    )
    check.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="also show passed checks' details and packet diagrams",
    )
    check.add_argument(
        "--captures",
        type=Path,
        default=None,
        metavar="DIR",
        help="where to keep packet captures (default: ./socketlab-captures/LAB)",
    )

    grade = commands.add_parser("grade", help="grade many submissions (instructors)")
    grade.add_argument("lab", metavar="LAB", help="lab id or lab directory")
    grade.add_argument("submissions", nargs="+", type=Path, metavar="SUBMISSION_DIR")
    grade.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory")

    image_command = commands.add_parser("image", help="the runtime image")
    image_actions = image_command.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = image_actions.add_parser("build", help="build the runtime image if it is not current")
    build.add_argument(
        "--install-tools",
        action="store_true",
        help="install mmdebstrap with apt-get if the offline path needs it (root only)",
    )

    clean = commands.add_parser("clean", help="remove containers and networks a killed run left")
    clean.add_argument(
        "--all", action="store_true", help="also remove those of runs that are still going"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    console = Console(highlight=False)
    errors = Console(stderr=True, highlight=False)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        match arguments.command:
            case "check":
                return check(
                    console,
                    arguments.lab,
                    arguments.submission,
                    arguments.verbose,
                    arguments.captures,
                )
            case "grade":
                return grade(console, arguments.lab, arguments.submissions, arguments.out)
            case "image":
                client = engine.connect()
                image.build_image(client, install_tools=arguments.install_tools, say=console.print)
                return EXIT_ALL_PASSED
            case "clean":
                removed = labels.sweep(engine.connect(), stale_only=not arguments.all)
                swept = scratch.sweep_stale()
                console.print(
                    f"removed {removed} containers and networks, {swept} temporary directories"
                )
                return EXIT_ALL_PASSED
    except (SpecError, LabNotFoundError) as e:
        errors.print(f"[bold red]error:[/] {e}", markup=True, highlight=False)
        return EXIT_INFRASTRUCTURE
    except InfrastructureError as e:
        errors.print(f"[bold red]infrastructure error:[/] {e}")
        errors.print("Nothing was graded; no score was written.")
        return EXIT_INFRASTRUCTURE
    except SocketlabError as e:
        errors.print(f"[bold red]error:[/] {e}")
        return EXIT_INFRASTRUCTURE
    except KeyboardInterrupt:
        errors.print("interrupted: containers and networks of this run were removed")
        return 130
    raise AssertionError(f"unhandled command {arguments.command}")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def check(
    console: Console,
    lab_name: str,
    submission: Path | None,
    verbose: bool,
    captures: Path | None,
) -> int:
    spec_path = find_lab(lab_name)
    lab = load_spec(spec_path)
    submission = (submission or spec_path.parent).resolve()
    _require_directory(submission)
    captures = (captures or Path.cwd() / "socketlab-captures" / lab.id).resolve()
    engine.connect()
    console.print(f"checking {lab.id} — this starts your programs in Docker containers…")
    outcome = grade_submission(lab, submission, skip_hidden=True, captures=captures)
    _raise_on_infrastructure(outcome)
    assert outcome.result is not None
    hidden = sum(1 for check in lab.checks if check.hidden)
    print_report(console, outcome.result, hidden_skipped=hidden, verbose=verbose)
    if any(captures.glob("*.pcap")):
        console.print(f"packet captures (open them in Wireshark): {captures}")
    return EXIT_ALL_PASSED if outcome.result.all_passed else EXIT_SOME_FAILED


def grade(console: Console, lab_name: str, submissions: list[Path], out: Path) -> int:
    """Grades each submission in turn and keeps each one's results as soon as it is graded.

    After each submission: the gradebook is rewritten (atomically) with its row, then its
    results.json is written (atomically) last, so a results.json on disk always has its row.
    A grader killed in any way keeps everything graded before. A Docker failure stops the
    batch and every submission left is written `not graded: <reason>` (exit 2).
    """
    spec_path = find_lab(lab_name)
    lab = load_spec(spec_path)
    for submission in submissions:
        _require_directory(submission)
    engine.connect()
    image.require_image(engine.connect())
    errors = Console(stderr=True, highlight=False)
    rows: list[GradebookRow] = []
    names = _unique_names(submissions)
    gradebook = out / "gradebook.csv"
    stopped: InfrastructureError | None = None
    bugs = 0
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"grading {lab.id}", total=len(submissions))
            for index, (submission, name) in enumerate(zip(submissions, names, strict=True)):
                progress.update(task, description=f"grading {escape(name)}")
                target = out / name
                _forget_previous_results(target)
                outcome = grade_submission(
                    lab,
                    submission.resolve(),
                    skip_hidden=False,
                    junit_xml=target / "junit.xml",
                    captures=target / "captures",
                )
                if outcome.cleanup_problem is not None and outcome.result is not None:
                    warning = f"warning: {name}: removing its containers failed: "
                    errors.print(Text(warning + outcome.cleanup_problem.splitlines()[0]))
                if outcome.result is None:
                    problem = outcome.infrastructure_failure or GraderBugError(
                        "the grader did not finish"
                    )
                    reason = _first_line(problem)
                    rows.append(GradebookRow(name, None, reason))
                    console.print(Text(f"! {name}: not graded: {reason}"), style="red")
                    if isinstance(problem, GraderBugError):
                        bugs += 1  # the engine still answers: the other submissions go on
                        write_gradebook(lab, rows, gradebook)
                        progress.advance(task)
                        continue
                    stopped = problem
                    rows.extend(
                        GradebookRow(rest, None, f"the batch stopped: {reason}")
                        for rest in names[index + 1 :]
                    )
                    write_gradebook(lab, rows, gradebook)
                    break
                rows.append(GradebookRow(name, outcome.result))
                write_gradebook(lab, rows, gradebook)
                write_results_json(outcome.result, target / "results.json")
                console.print(Text(f"  {name}: {counts(outcome.result)}"))
                progress.advance(task)
    except KeyboardInterrupt:
        graded = sum(1 for row in rows if row.result is not None)
        done = {row.name for row in rows}
        rows.extend(GradebookRow(n, None, "interrupted") for n in names if n not in done)
        write_gradebook(lab, rows, gradebook)
        errors.print(Text(_kept(graded, out)))
        raise
    graded = sum(1 for row in rows if row.result is not None)
    judge_errors = sum(len(row.result.errors) for row in rows if row.result is not None)
    if judge_errors:
        console.print(
            f"[yellow]{judge_errors} check(s) could not be judged because of grader errors;"
            " their column says `error` and results.json's stdout has the tracebacks.[/]"
        )
    if stopped is not None:
        errors.print(Text("infrastructure error: ", style="bold red") + Text(str(stopped)))
        errors.print(Text(_kept(graded, out)))
        return EXIT_INFRASTRUCTURE
    if bugs:
        errors.print(
            Text(f"{bugs} submission(s) could not be graded because of a grader error; ")
            + Text(_kept(graded, out))
        )
        return EXIT_INFRASTRUCTURE
    console.print(Text(f"wrote {out}/<submission>/results.json and {gradebook}"))
    return EXIT_ALL_PASSED


def _kept(graded: int, out: Path) -> str:
    """What an unfinished batch kept, in one sentence: true whatever the count."""
    if graded == 0:
        return "Nothing was graded; no score was written."
    return (
        f"{graded} graded submission(s) were kept: {out}/<submission>/results.json and"
        f" {out / 'gradebook.csv'}; the others are marked `not graded` there."
    )


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _forget_previous_results(target: Path) -> None:
    """Removes an earlier run's report files for this submission before grading it again.

    Otherwise a run killed on this submission would leave the old results looking current.
    """
    for name in ("results.json", "junit.xml", ".junit.xml.partial"):
        (target / name).unlink(missing_ok=True)


def _raise_on_infrastructure(outcome: GradingOutcome) -> None:
    if outcome.infrastructure_failure is not None:
        raise InfrastructureError(outcome.infrastructure_failure)


def _require_directory(path: Path) -> None:
    if not path.is_dir():
        raise SocketlabError(f"{printable(str(path))} is not a directory")


RESERVED_NAMES = frozenset({"gradebook.csv", ".", ".."})
"""Names in the output directory that are not a submission's: a folder so named gets -2."""


def _unique_names(submissions: list[Path]) -> list[str]:
    """One printable name per submission (its folder's name, made unique with -2, -3, ...).

    Never a name the output directory uses for itself (RESERVED_NAMES), nor an empty one.
    """
    names: list[str] = []
    for submission in submissions:
        base = printable(submission.resolve().name) or "submission"
        name, number = base, 2
        while name in names or name in RESERVED_NAMES:
            name, number = f"{base}-{number}", number + 1
        names.append(name)
    return names


if __name__ == "__main__":
    sys.exit(main())
