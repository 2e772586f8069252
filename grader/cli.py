"""The `socketlab` command: check (students), grade (instructors), image, clean."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import os
import signal
import sys
import time
import traceback
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from grader import __version__, batch, interrupts
from grader.checks import check_kinds
from grader.errors import (
    DockerUnavailableError,
    EngineLostError,
    GraderBugError,
    InfrastructureError,
    LabNotFoundError,
    SocketlabError,
    SpecError,
)
from grader.grading import GradingOutcome, grade_submission
from grader.labs import INSTALLED_LABS, available_labs, find_lab
from grader.reporting import github
from grader.reporting.gradebook import GradebookRow, write_gradebook
from grader.reporting.names import printable
from grader.reporting.record import other_labs
from grader.reporting.roster import Student, match_roster, read_roster, write_canvas
from grader.reporting.terminal import MARKS, counts, print_report
from grader.results import CheckResult, SubmissionResult
from grader.sandbox import engine, image, labels, local, scratch
from grader.spec.loader import load_spec
from grader.spec.model import LabSpec

CANVAS_NAME = "canvas.csv"
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
    _add_backend(check, "auto")

    ci = commands.add_parser(
        "ci", help="grade one submission in GitHub Actions / Classroom (autograding workflows)"
    )
    ci.add_argument(
        "lab", metavar="LAB", help="id of a lab socketlab ships (never a path: see the README)"
    )
    ci.add_argument(
        "--submission",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="directory with server.py and client.py (default: the current directory)",
    )
    _add_hidden_checks(ci)
    _add_backend(ci, "docker")
    ci.add_argument(
        "--fail-under",
        type=float,
        default=None,
        metavar="POINTS",
        help="exit 1 when the score is below POINTS (default: a graded submission exits 0)",
    )

    grade = commands.add_parser("grade", help="grade many submissions (instructors)")
    grade.add_argument("lab", metavar="LAB", help="lab id or lab directory")
    grade.add_argument("submissions", nargs="*", type=Path, metavar="SUBMISSION_DIR")
    grade.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory")
    grade.add_argument(
        "--submissions-from",
        type=Path,
        default=None,
        metavar="DIR",
        help="also grade every subdirectory of DIR (in name order; hidden ones and --out left out)",
    )
    grade.add_argument(
        "--jobs",
        "-j",
        type=_positive_int,
        default=None,
        metavar="N",
        help="grade N submissions at once, each on its own network (default: two per core,"
        " at most one per 2 GiB of available memory, at most 8; with --backend local, 1)",
    )
    _add_hidden_checks(grade)
    _add_backend(grade, "docker")
    grade.add_argument(
        "--roster",
        type=Path,
        default=None,
        metavar="FILE",
        help="CSV mapping submission folders (column `folder`) to students (Canvas's"
        " Student, ID, SIS User ID, SIS Login ID, Section): also writes canvas.csv to import",
    )
    grade.add_argument(
        "--resume",
        action="store_true",
        help="skip the submissions whose results are already complete in --out",
    )

    autograde = commands.add_parser(
        "autograde",
        help="grade one submission inside Gradescope's or PrairieLearn's autograder (the"
        " scripts `socketlab gradescope` and `socketlab prairielearn` write run it)",
    )
    autograde.add_argument("lab", metavar="LAB", help="lab id or lab directory")
    autograde.add_argument("--submission", type=Path, required=True, metavar="DIR")
    autograde.add_argument(
        "--results", type=Path, required=True, metavar="FILE", help="the results.json to write"
    )
    autograde.add_argument("--format", choices=("gradescope", "prairielearn"), required=True)
    _add_hidden_checks(autograde)
    _add_backend(autograde, "local")

    for platform, what in (
        ("gradescope", "Gradescope's autograder.zip (setup.sh, run_autograder, the wheels)"),
        ("prairielearn", "a PrairieLearn question's tests/ folder (run.sh, the wheels)"),
    ):
        bundle = commands.add_parser(platform, help=f"write {what} for a lab")
        bundle.add_argument("lab", metavar="LAB", help="lab id or lab directory")
        bundle.add_argument(
            "--out",
            type=Path,
            required=True,
            metavar="ZIP" if platform == "gradescope" else "DIR",
            help="the zip file to write" if platform == "gradescope" else "the question folder",
        )
        _add_hidden_checks(bundle)
        bundle.add_argument(
            "--python-version",
            default=f"{sys.version_info.major}.{sys.version_info.minor}",
            metavar="X.Y",
            help="the Python of the platform's image, for the wheels (default: this one's)",
        )

    commands.add_parser("labs", help="list the labs a LAB id can name, with their titles")
    commands.add_parser(
        "schema",
        help="print the JSON Schema of spec.yaml, for an editor to check a lab you write",
    )

    image_command = commands.add_parser("image", help="the runtime image")
    image_actions = image_command.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = image_actions.add_parser("build", help="build the runtime image if it is not current")
    build.add_argument(
        "--install-tools",
        action="store_true",
        help="install mmdebstrap with apt-get if the offline path needs it (root only)",
    )
    build.add_argument(
        "--wait-for-engine",
        type=float,
        default=0,
        metavar="SECONDS",
        help="keep asking a Docker engine that does not answer yet for this long (default 0)",
    )

    clean = commands.add_parser(
        "clean", help="remove containers, networks and volumes a killed run left"
    )
    clean.add_argument(
        "--all", action="store_true", help="also remove those of runs that are still going"
    )
    return parser


def _add_backend(command: argparse.ArgumentParser, default: str) -> None:
    choices = ("auto", "docker", "local") if default == "auto" else ("docker", "local")
    auto = " (auto: docker when an engine answers, else local)" if default == "auto" else ""
    command.add_argument(
        "--backend",
        choices=choices,
        default=default,
        help=f"where the programs run: Docker containers or local processes on loopback,"
        f" without container isolation (default: {default}){auto}",
    )


def _add_hidden_checks(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--hidden-checks",
        type=Path,
        default=None,
        metavar="FILE",
        help="add the hidden checks of this private YAML file (lab: ID, checks: [...]),"
        " kept out of the students' repository",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments, extra = parser.parse_known_args(argv)
    # argparse takes no positional after an option once the positionals were matched:
    # `grade LAB --jobs 4 DIR...` gives the DIRs back here.
    if arguments.command == "grade" and not any(text.startswith("-") for text in extra):
        arguments.submissions += [Path(text) for text in extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    # Bound to the real streams (grading redirects sys.stdout to capture pytest's output);
    # in a log, lines are never wrapped at 80 columns.
    with contextlib.ExitStack() as stack:
        stdout, stderr = sys.stdout, sys.stderr
        if os.environ.get("GITHUB_ACTIONS") == "true":
            # What a student's program printed reaches the log in feedback: no line of it may
            # be read as a workflow command (grader.reporting.github).
            stdout, stderr = stack.enter_context(github.commands_stopped(stdout, stderr))
        try:
            return _run(parser, arguments, stdout, stderr)
        except Exception:
            # A bug in socketlab itself: exit 2 (never 1, which reads as a score), and the
            # traceback through the same streams as everything else.
            stderr.write("socketlab failed (a bug in the grader, not in the submission):\n")
            stderr.write(traceback.format_exc())
            stderr.flush()
            return EXIT_INFRASTRUCTURE


def _run(
    parser: argparse.ArgumentParser, arguments: argparse.Namespace, stdout: TextIO, stderr: TextIO
) -> int:
    console = Console(file=stdout, highlight=False)
    console.soft_wrap = not console.is_terminal
    errors = Console(file=stderr, highlight=False)
    errors.soft_wrap = not errors.is_terminal
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
                    arguments.backend,
                )
            case "ci":
                return ci(
                    console,
                    arguments.lab,
                    arguments.submission,
                    arguments.fail_under,
                    arguments.hidden_checks,
                    arguments.backend,
                )
            case "grade":
                submissions = list(arguments.submissions)
                if arguments.submissions_from is not None:
                    submissions += _subdirectories(arguments.submissions_from, arguments.out)
                    for archive in _archives_in(arguments.submissions_from):
                        errors.print(
                            Text(
                                f"warning: {printable(archive.name)} is an archive, not a"
                                " folder: it is not graded (unpack it into a folder first)",
                                "yellow",
                            )
                        )
                if not submissions:
                    parser.error("give SUBMISSION_DIR arguments or --submissions-from DIR")
                if arguments.out.exists() and not arguments.out.is_dir():
                    parser.error(f"--out {printable(str(arguments.out))} is a file, not a folder")
                return grade(
                    console,
                    arguments.lab,
                    submissions,
                    arguments.out,
                    jobs=arguments.jobs,
                    resume=arguments.resume,
                    roster=arguments.roster,
                    hidden_checks=arguments.hidden_checks,
                    backend=arguments.backend,
                )
            case "autograde":
                return autograde(
                    console,
                    arguments.lab,
                    arguments.submission,
                    arguments.results,
                    arguments.format,
                    arguments.hidden_checks,
                    arguments.backend,
                )
            case "gradescope" | "prairielearn":
                from grader import bundles

                lab = load_spec(find_lab(arguments.lab), arguments.hidden_checks)
                if arguments.command == "gradescope":
                    bundles.write_gradescope_zip(lab, arguments.out, arguments.python_version)
                else:
                    bundles.write_prairielearn_folder(lab, arguments.out, arguments.python_version)
                hint = " (Gradescope's Ubuntu 22.04 image has 3.10: --python-version 3.10)"
                console.print(
                    f"wrote {printable(str(arguments.out))}, with wheels for Python"
                    f" {arguments.python_version}: the platform's image must have that one"
                    + (hint if arguments.command == "gradescope" else "")
                )
                return EXIT_ALL_PASSED
            case "labs":
                return list_labs(console)
            case "schema":
                from grader.spec.schema import schema_text

                sys.stdout.write(schema_text())
                return EXIT_ALL_PASSED
            case "image":
                client = engine.connect(arguments.wait_for_engine, say=console.print)
                image.build_image(client, install_tools=arguments.install_tools, say=console.print)
                return EXIT_ALL_PASSED
            case "clean":
                removed = labels.sweep(engine.connect(), stale_only=not arguments.all)
                swept = scratch.sweep_stale()
                console.print(
                    f"removed {removed} containers, networks and volumes,"
                    f" {swept} temporary directories"
                )
                return EXIT_ALL_PASSED
    except (SpecError, LabNotFoundError) as e:
        errors.print(Text("error: ", style="bold red") + Text(str(e)))
        return EXIT_INFRASTRUCTURE
    except InfrastructureError as e:
        errors.print(Text("infrastructure error: ", style="bold red") + Text(str(e)))
        if _no_engine(e) and getattr(arguments, "backend", None) == "docker":
            errors.print(
                "Or grade without Docker: `--backend local` runs the programs as local"
                " processes, without a container's isolation (see the README)."
            )
        errors.print("Nothing was graded; no score was written.")
        return EXIT_INFRASTRUCTURE
    except SocketlabError as e:
        errors.print(Text("error: ", style="bold red") + Text(str(e)))
        return EXIT_INFRASTRUCTURE
    except KeyboardInterrupt:
        errors.print("interrupted: the programs, containers and networks of this run were removed")
        return 130
    raise AssertionError(f"unhandled command {arguments.command}")


def list_labs(console: Console) -> int:
    """Prints each lab id with its title, then where they are; exit 2 if a spec does not load."""
    entries = available_labs()
    if not entries:
        console.print("no labs found: give check and grade a lab directory's path")
        return EXIT_INFRASTRUCTURE
    width = max(len(entry.id) for entry in entries)
    for entry in entries:
        about = entry.title or f"(its spec.yaml does not load: {entry.error.splitlines()[0]})"
        console.print(Text(f"{entry.id:<{width}}  {about}"))
    roots = dict.fromkeys(str(entry.spec.parent.parent) for entry in entries)
    console.print(Text(f"(from {', '.join(roots)})"))
    return EXIT_INFRASTRUCTURE if any(entry.error for entry in entries) else EXIT_ALL_PASSED


def _no_engine(error: InfrastructureError) -> bool:
    """Whether `error` is an engine that never answered (not one lost in the middle of a run)."""
    return isinstance(error, DockerUnavailableError) and not isinstance(error, EngineLostError)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def check(
    console: Console,
    lab_name: str,
    submission: Path | None,
    verbose: bool,
    captures: Path | None,
    backend: str = "auto",
) -> int:
    spec_path = find_lab(lab_name)
    lab = load_spec(spec_path)
    if submission is None and spec_path.resolve().is_relative_to(INSTALLED_LABS.resolve()):
        # Its lab folder is the installed package's copy of the starters: grading it would
        # give the student the starters' score for their own work.
        raise SocketlabError(
            f"{lab.id} comes with the installed socketlab, and its folder holds the starters,"
            " not your work: say which folder holds your server.py and client.py with"
            " --submission DIR (--submission . for this one)"
        )
    submission = (submission or spec_path.parent).resolve()
    _require_directory(submission)
    captures = (captures or Path.cwd() / "socketlab-captures" / lab.id).resolve()
    _clear_captures(captures, lab)
    backend = _chosen_backend(console, backend)
    where = _where(backend)
    intro = f"checking {lab.id} — this starts your programs {where}…"
    result = _graded_live(
        console,
        lab,
        submission,
        intro,
        skip_hidden=True,
        captures=captures,
        backend=backend,
        without_capture="not-checked",
    )
    hidden = sum(1 for check in lab.checks if check.hidden)
    print_report(console, result, hidden_skipped=hidden, verbose=verbose)
    if any(captures.glob("*.pcap")):
        console.print(f"packet captures (open them in Wireshark): {captures}")
    return EXIT_ALL_PASSED if result.all_passed else EXIT_SOME_FAILED


def _clear_captures(captures: Path, lab: LabSpec) -> None:
    """Removes the lab's checks' captures from an earlier `check` in `captures`: one would
    read as this run's. Each check's file is replaced when it captures again, and removed
    when it does not. Raises SocketlabError when `captures` is no folder, or holds something
    other than a file under a capture's name."""
    where = printable(str(captures))
    if captures.exists() and not captures.is_dir():
        raise SocketlabError(f"--captures {where} is a file, not a folder")
    if captures.is_dir() and not os.access(captures, os.W_OK | os.X_OK):
        raise SocketlabError(f"cannot write captures in {where}: give --captures another folder")
    for check in lab.checks:
        old = captures / f"{check.id}.pcap"
        if old.exists() and not (old.is_symlink() or old.is_file()):
            raise SocketlabError(
                f"{printable(str(old))} is not a packet capture: move it out of --captures"
            )
        try:
            old.unlink(missing_ok=True)
        except OSError as e:
            raise SocketlabError(
                f"cannot replace {printable(str(old))} ({e.strerror}): give --captures another"
                " folder"
            ) from e


def _graded_live(
    console: Console,
    lab: LabSpec,
    submission: Path,
    intro: str,
    *,
    skip_hidden: bool,
    captures: Path | None = None,
    backend: str = "docker",
    without_capture: str = "error",
) -> SubmissionResult:
    """One submission graded in this process, with `check`'s live line on `console`.

    Raises InfrastructureError when the engine does not answer (backend "docker"), the local
    backend cannot run here (backend "local"), or the grading could not end.
    """
    if backend == "docker":
        engine.connect()
    else:
        local.require_local()
        if without_capture == "error":
            _require_capture(lab)
    console.print(intro)
    with interrupts.deferred(), _CheckProgress(console, lab) as progress:
        outcome = grade_submission(
            lab,
            submission,
            skip_hidden=skip_hidden,
            captures=captures,
            on_check=progress.tell,
            backend=backend,
            without_capture=without_capture,
        )
    _raise_on_infrastructure(outcome)
    assert outcome.result is not None
    return outcome.result


def autograde(
    console: Console,
    lab_name: str,
    submission: Path,
    results: Path,
    platform: str,
    hidden_checks: Path | None = None,
    backend: str = "local",
) -> int:
    """Grades `submission` with every check and writes the platform's results.json to
    `results` (grader.reporting.gradescope or .prairielearn), printing the report too.

    Whatever goes wrong (a spec error, an infrastructure failure, a bug in socketlab), a
    results.json is written that says the submission was not graded and why: never a bare
    zero. Returns 0 once a results.json is written, 2 when even that failed.
    """
    from grader.reporting import gradescope, prairielearn

    try:
        results.parent.mkdir(parents=True, exist_ok=True)
        lab = load_spec(find_lab(lab_name), hidden_checks)
        submission = submission.resolve()
        _require_directory(submission)
        started = time.monotonic()
        intro = f"grading {lab.id} ({backend} backend)…"
        result = _graded_live(console, lab, submission, intro, skip_hidden=False, backend=backend)
    except Exception as e:  # a results.json in every case: the reason in place of a score
        reason = f"{type(e).__name__}: {e}" if not isinstance(e, SocketlabError) else str(e)
        errors = Console(stderr=True, highlight=False, soft_wrap=not sys.stderr.isatty())
        errors.print(Text(f"not graded: {reason}", style="bold red"))
        if platform == "gradescope":
            gradescope.write_not_graded(reason, results)
        else:
            prairielearn.write_not_graded(reason, results)
        return EXIT_ALL_PASSED
    print_report(console, result)
    if platform == "gradescope":
        gradescope.write_results_json(result, results, time.monotonic() - started)
    else:
        prairielearn.write_results_json(result, results)
    return EXIT_ALL_PASSED


def _require_capture(lab: LabSpec) -> None:
    """Before any program runs: grading on the local backend needs packet capture when the
    lab has packet checks (marks for checks not made would be wrong). Raises
    InfrastructureError naming them when this machine cannot capture."""
    kinds = check_kinds()
    packet_checks = [check.id for check in lab.checks if kinds[check.kind].judges_packets]
    if packet_checks and not local.can_capture():
        raise InfrastructureError(
            f"the checks {', '.join(packet_checks)} read the packets, and capturing them on"
            " the local backend needs root and tcpdump: grade as root with tcpdump installed,"
            " or with Docker"
        )


def _where(backend: str) -> str:
    """Where `backend` runs the programs, as the intro line says it."""
    return "in Docker containers" if backend == "docker" else "as local processes"


def _chosen_backend(console: Console, backend: str) -> str:
    """`backend`, with "auto" made "docker" when an engine answers, else "local" (said so)."""
    if backend != "auto":
        return backend
    try:
        engine.connect()
    except DockerUnavailableError:
        console.print(
            "note: no Docker engine answers; your programs run as local processes instead"
            " (--backend local)"
        )
        return "local"
    return "docker"


def ci(
    console: Console,
    lab_name: str,
    submission: Path,
    fail_under: float | None,
    hidden_checks: Path | None = None,
    backend: str = "docker",
) -> int:
    """Grades `submission` with every check, as in a batch, for a GitHub Actions job.

    Prints the student's report (hidden checks as their points only), sets the step output
    `result` for GitHub Classroom's grading reporter and appends a summary to the step's
    page (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY; each only when set). Returns 0 once graded,
    1 when `fail_under` is given and the score is below it; infrastructure errors raise.
    `hidden_checks` adds a private file's hidden checks (spec.loader.load_spec).
    """
    spec_path = find_lab(lab_name, shipped_only=True)
    lab = load_spec(spec_path, hidden_checks)
    submission = submission.resolve()
    _require_directory(submission)
    where = _where(backend)
    intro = f"grading {lab.id} — this starts the programs {where}…"
    result = _graded_live(console, lab, submission, intro, skip_hidden=False, backend=backend)
    print_report(console, result)
    if os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as output:
            output.write(f"result={github.classroom_result(result)}\n")
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as summary:
            summary.write(github.step_summary(result))
    if fail_under is not None and result.score < fail_under:
        console.print(f"the score {result.score:g} is below --fail-under {fail_under:g}")
        return EXIT_SOME_FAILED
    return EXIT_ALL_PASSED


class _CheckProgress:
    """`check`'s live line: the check being run, then its mark.

    On a terminal, one line that changes (gone before the report): the marks of the checks
    done, then the one being run. In a log, one plain line per check as it ends, so a long
    check never looks like a hang.
    """

    def __init__(self, console: Console, lab: LabSpec) -> None:
        self.console = console
        self.titles = {check.id: check.title for check in lab.checks if not check.hidden}
        self.total = len(self.titles)
        self.done = 0
        self._last = Text()
        self._status = (
            console.status("", spinner="dots") if console.is_terminal and self.total else None
        )

    def __enter__(self) -> _CheckProgress:
        if self._status is not None:
            self._status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()

    def tell(self, check_id: str, result: CheckResult | None) -> None:
        if check_id not in self.titles:
            return  # a hidden check (socketlab ci): never named
        title = self.titles[check_id]
        if result is None:
            if self._status is not None:
                line = self._last.copy()
                line.append(f" check {self.done + 1} of {self.total}: {title}")
                self._status.update(line)
            return
        self.done += 1
        mark, colour = MARKS[result.status]
        line = Text(f"[{self.done}/{self.total}] ")
        line.append(mark, style=f"bold {colour}")
        line.append(f" {title}  {check_id}")
        if self._status is None:
            self.console.print(line)
        else:
            self._last.append(mark, style=f"bold {colour}")  # one mark per check so far


def grade(
    console: Console,
    lab_name: str,
    submissions: list[Path],
    out: Path,
    *,
    jobs: int | None = None,
    resume: bool = False,
    roster: Path | None = None,
    hidden_checks: Path | None = None,
    backend: str = "docker",
) -> int:
    """Grades the submissions, `jobs` at a time, keeping each one's results as it finishes.

    Each submission is graded by a worker process (grader.batch) that writes its grade.json;
    then the gradebook is rewritten (atomically) from every grade.json in the batch's order,
    and only then is its results.json put in place, so a gradebook is the same whatever
    `jobs` is and a results.json on disk always has its row. A grader killed in any way
    keeps everything graded before; with `resume`, the submissions whose results are complete
    in `out` are not graded again.
    A Docker failure stops the batch: every submission not graded is written
    `not graded: <reason>` (exit 2). A grader bug costs one submission, and the batch goes on.
    With `roster` (grader.reporting.roster), canvas.csv is written beside the gradebook;
    `hidden_checks` adds a private file's hidden checks (spec.loader.load_spec). `backend`
    "local" runs the programs as local processes (grader.sandbox.local), with a warning.
    """
    spec_path = find_lab(lab_name)
    lab = load_spec(spec_path, hidden_checks)
    students = read_roster(roster) if roster is not None else None
    for submission in submissions:
        _require_directory(submission)
    if not submissions:
        raise SocketlabError("no submissions to grade")
    _refuse_other_labs(out, lab)  # before the lock, which would make `out`
    if backend == "docker":
        image.require_image(engine.connect())
    else:
        local.require_local()
        _require_capture(lab)
        warnings = Console(file=sys.stderr, highlight=False, soft_wrap=not sys.stderr.isatty())
        warnings.print(
            Text(
                "warning: --backend local runs the submissions' programs without container"
                " isolation"
                + ("" if local.is_root() else ", as your own user, able to read your files"),
                "yellow",
            )
        )
        if jobs is not None and jobs > 1:
            warnings.print(
                Text(
                    f"warning: --jobs {jobs}: submissions graded side by side share this"
                    " machine's ports and can reach each other's programs",
                    "yellow",
                )
            )
        if hidden_checks is not None and hidden_checks.stat().st_mode & 0o004:
            warnings.print(
                Text(
                    f"warning: {printable(str(hidden_checks))} is readable by every user, the"
                    " programs' too: chmod o-r it to keep the hidden checks from them",
                    "yellow",
                )
            )
    with _only_batch_in(out):
        _refuse_other_labs(out, lab)  # and again: a batch of another lab may have ended since
        return _grade(
            console,
            lab,
            submissions,
            out,
            jobs or (batch.default_jobs() if backend == "docker" else 1),
            resume,
            students,
            roster,
            backend,
        )


def _refuse_other_labs(out: Path, lab: LabSpec) -> None:
    """Raises SocketlabError when `out` holds another lab's results, which grading would replace."""
    others = [printable(other) for other in other_labs(out, lab)]
    if others:
        raise SocketlabError(
            f"{printable(str(out))} holds results of {', '.join(others)}, not {lab.id};"
            " grading there would replace them: give another --out"
        )


LOCK_NAME = ".socketlab-grade.lock"


@contextlib.contextmanager
def _only_batch_in(out: Path) -> Iterator[None]:
    """Holds `out` for this batch; another batch writing there would drop this one's rows.

    Raises SocketlabError when another `socketlab grade` holds it.
    """
    out.mkdir(parents=True, exist_ok=True)
    with (out / LOCK_NAME).open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise SocketlabError(
                f"another `socketlab grade` is writing to {printable(str(out))}; wait for it to"
                " end, or give another --out"
            ) from e
        yield


def _grade(
    console: Console,
    lab: LabSpec,
    submissions: list[Path],
    out: Path,
    jobs: int,
    resume: bool,
    students: list[Student] | None,
    roster: Path | None = None,
    backend: str = "docker",
) -> int:
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    names = _unique_names(submissions)
    matched = (
        match_roster(students, names, submissions, roster)
        if students is not None and roster is not None
        else {}
    )
    every = [
        batch.Job(index, name, submission.resolve(), out / name)
        for index, (submission, name) in enumerate(zip(submissions, names, strict=True))
    ]
    rows: dict[int, GradebookRow] = {}
    seconds: dict[str, float] = {}
    todo: list[batch.Job] = []
    for job in every:
        done = batch.completed(lab, job) if resume else None
        if done is None:
            batch.forget_reports(job.target)  # no earlier run's results can pass as this one's
            todo.append(job)
        else:
            rows[job.index] = GradebookRow(job.name, done[0], path=job.submission)
            seconds[job.name] = done[1]
    gradebook = out / "gradebook.csv"

    def write_rows(rest: str | None = None) -> None:
        ordered = [
            rows.get(job.index) or GradebookRow(job.name, None, rest, job.submission)
            for job in every
        ]
        kept = [row for row in ordered if row.problem or row.result]
        write_gradebook(lab, kept, gradebook)
        if students is not None:
            unnamed[:] = write_canvas(lab, students, matched, kept, out / CANVAS_NAME)

    unnamed: list[str] = []

    write_rows()
    resumed = len(every) - len(todo)
    console.print(
        Text(
            f"grading {len(todo)} submission(s) of {lab.id}, {min(jobs, len(todo) or 1)} at a time"
            + (f"; {resumed} already graded in {out} (--resume)" if resumed else "")
        )
    )
    stopped: InfrastructureError | None = None
    bugs = 0
    try:
        with (
            interrupts.deferred(),
            # Before the progress bar, whose refresh is a thread: the pool may fork.
            batch.WorkerPool(lab, jobs, backend) as pool,
            _BatchProgress(console, len(todo)) as progress,
        ):
            for finished in pool.run(todo):
                job = finished.job
                if finished.interrupted and not interrupts.count() and stopped is None:
                    # Stopped by a signal this batch never got (sent to the worker alone),
                    # not by the batch's own stop: not graded, and said, rather than left
                    # out as an interrupt would be.
                    failure = GraderBugError("its worker was stopped by a signal from outside")
                    finished = dataclasses.replace(finished, interrupted=False, failure=failure)
                if finished.interrupted:
                    continue
                if finished.cleanup_problem and finished.result is not None:
                    warning = f"warning: {job.name}: removing its containers failed: "
                    errors.print(Text(warning + finished.cleanup_problem.splitlines()[0]))
                if finished.result is None:
                    problem = finished.failure or GraderBugError("the grader did not finish")
                    reason = _first_line(problem)
                    rows[job.index] = GradebookRow(job.name, None, reason, job.submission)
                    progress.console.print(Text(f"! {job.name}: not graded: {reason}", "red"))
                    if isinstance(problem, GraderBugError):
                        bugs += 1  # the engine still answers: the other submissions go on
                    elif stopped is None:
                        stopped = problem
                        pool.stop_taking()
                else:
                    rows[job.index] = GradebookRow(job.name, finished.result, path=job.submission)
                    seconds[job.name] = finished.seconds
                    progress.console.print(Text(f"  {job.name}: {counts(finished.result)}"))
                write_rows()
                if finished.result is not None:
                    batch.publish(job.target)
                progress.advance(finished.result is not None and finished.result.all_passed)
    except KeyboardInterrupt:
        write_rows("interrupted")
        errors.print(Text(_kept(_graded(rows), out)))
        raise
    finally:
        # The workers have ended; anything an interrupted one could not remove is the
        # batch's (they carry its pid), and goes now.
        if backend == "docker":
            with contextlib.suppress(Exception):
                labels.sweep(engine.connect(), owner_pid=labels.owner_pid(), stale_only=False)
    if stopped is not None:
        write_rows(f"the batch stopped: {_first_line(stopped)}")
    else:
        write_rows("the grader did not finish")
    _print_summary(console, lab, [row for row in rows.values() if row.result], seconds)
    judge_errors = sum(len(row.result.errors) for row in rows.values() if row.result is not None)
    if judge_errors:
        console.print(
            f"[yellow]{judge_errors} check(s) could not be judged because of grader errors;"
            " their column says `error` and results.json's stdout has the tracebacks.[/]"
        )
    if stopped is not None:
        errors.print(Text("infrastructure error: ", style="bold red") + Text(str(stopped)))
        errors.print(Text(_kept(_graded(rows), out)))
        return EXIT_INFRASTRUCTURE
    if bugs:
        errors.print(
            Text(f"{bugs} submission(s) could not be graded because of a grader error; ")
            + Text(_kept(_graded(rows), out))
        )
        return EXIT_INFRASTRUCTURE
    console.print(Text(f"wrote {out}/<submission>/results.json and {gradebook}"))
    if students is not None:
        console.print(Text(f"wrote {out / CANVAS_NAME} for Canvas's gradebook import"))
        if unnamed:
            errors.print(
                Text(
                    f"warning: {len(unnamed)} graded submission(s) are on no roster line, so"
                    f" not in {CANVAS_NAME}: {', '.join(printable(name) for name in unnamed)}"
                )
            )
    return EXIT_ALL_PASSED


def _graded(rows: dict[int, GradebookRow]) -> int:
    return sum(1 for row in rows.values() if row.result is not None)


class _BatchProgress:
    """The batch's progress: a live bar on a terminal, nothing extra in a log."""

    def __init__(self, console: Console, total: int) -> None:
        self.console = console
        self.failing = 0
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if console.is_terminal and total:
            self._progress = Progress(
                TextColumn("grading"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("done, {task.fields[failing]} failing, {task.fields[left]} left"),
                TimeRemainingColumn(),
                console=console,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._task = self._progress.add_task("", total=total, failing=0, left=total)
            self.console = self._progress.console

    def __enter__(self) -> _BatchProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def advance(self, passed_all: bool) -> None:
        self.failing += 0 if passed_all else 1
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task)
            task = self._progress.tasks[0]
            left = int((task.total or 0) - task.completed)
            self._progress.update(self._task, failing=self.failing, left=left)


SLOWEST_SHOWN = 5


def _print_summary(
    console: Console, lab: LabSpec, rows: list[GradebookRow], seconds: dict[str, float]
) -> None:
    """Per check, how many graded submissions passed it; then the slowest submissions."""
    if not rows:
        return
    console.print(Text(f"passed, of {len(rows)} graded submission(s):"))
    width = max(len(check.id) for check in lab.checks)
    for check in lab.checks:
        passed = sum(
            1
            for row in rows
            if row.result is not None
            and any(c.check_id == check.id and c.status == "passed" for c in row.result.checks)
        )
        console.print(Text(f"  {check.id:<{width}}  {passed:>4} / {len(rows)}"))
    slowest = sorted(seconds.items(), key=lambda item: (-item[1], item[0]))[:SLOWEST_SHOWN]
    console.print(Text("slowest: " + ", ".join(f"{name} {s:.1f} s" for name, s in slowest)))


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


def _raise_on_infrastructure(outcome: GradingOutcome) -> None:
    if outcome.infrastructure_failure is not None:
        raise InfrastructureError(outcome.infrastructure_failure)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def _subdirectories(parent: Path, out: Path) -> list[Path]:
    """Every subdirectory of `parent` in name order, except hidden ones, `out` itself and links
    to `parent` or a folder above it."""
    _require_directory(parent)
    skip = out.resolve()
    around = {parent.resolve(), *parent.resolve().parents}  # a link back up is no submission
    return sorted(
        (
            child
            for child in parent.iterdir()
            if child.is_dir()
            and not child.name.startswith(".")
            and child.resolve() != skip
            and child.resolve() not in around
        ),
        key=lambda child: os.fsencode(child.name),
    )


ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.bz2", ".7z", ".rar")


def _archives_in(parent: Path) -> list[Path]:
    """The archives among `parent`'s files, in name order: a student's work downloaded and
    not yet unpacked, which --submissions-from does not grade."""
    return sorted(
        (
            child
            for child in parent.iterdir()
            if child.is_file() and child.name.lower().endswith(ARCHIVE_SUFFIXES)
        ),
        key=lambda child: os.fsencode(child.name),
    )


def _require_directory(path: Path) -> None:
    if not path.is_dir():
        raise SocketlabError(f"{printable(str(path))} is not a directory")


RESERVED_NAMES = frozenset({"gradebook.csv", "canvas.csv", LOCK_NAME, ".", ".."})
"""Names in the output directory that are not a submission's: a folder so named is named
after its path instead (_unique_names)."""


NAME_LIMIT_CHARS = 96
"""A longer name is cut and given a digest of the whole, so it stays a valid file name."""


def _unique_names(submissions: list[Path]) -> list[str]:
    """One printable name per submission, the same whatever the order of the arguments.

    Its folder's name, as given (a link keeps its own). Submissions whose folder names are
    the same, also in letter case alone (`Eve` and `eve` are one folder on a case-insensitive
    disk), are named after their paths instead: their folder's name after the parent
    folders that tell them apart, joined by `__` (`class-a__alice`, `late__alice`); where
    no parent does (`Eve`, `eve` side by side), a digest of the path follows. Never a name
    the output directory uses for itself (RESERVED_NAMES) or an empty one; a name longer
    than NAME_LIMIT_CHARS once printable is cut and ends with a digest of the whole.
    Raises SocketlabError when one directory is given twice.
    """
    paths = [Path(os.path.abspath(submission)) for submission in submissions]
    twice = sorted({str(path) for path in paths if paths.count(path) > 1})
    if twice:
        raise SocketlabError(f"{printable(twice[0])} is given more than once: grade it once")
    names = [_base_name(submission) for submission in submissions]
    for depth in range(1, max(len(path.parts) for path in paths) + 1):
        clashes = _clashing(names)
        if not clashes:
            return names
        for index in clashes:
            names[index] = _path_name(paths[index], depth)
    for index in _clashing(names):
        digest = hashlib.sha256(os.fsencode(paths[index])).hexdigest()[:8]
        names[index] = f"{_base_name(paths[index])}-{digest}"
    return names


def _clashing(names: list[str]) -> list[int]:
    """Indexes of the names another one equals, ignoring letter case, and reserved ones."""
    folded = [_folded(name) for name in names]
    reserved = {_folded(name) for name in RESERVED_NAMES}
    return [
        index for index, name in enumerate(folded) if folded.count(name) > 1 or name in reserved
    ]


def _folded(name: str) -> str:
    """`name` as a case-insensitive, normalising disk (macOS, Windows) compares it."""
    return unicodedata.normalize("NFC", name).casefold()


def _path_name(path: Path, depth: int) -> str:
    """`path`'s folder name after its `depth` nearest parents' names, joined by `__`."""
    parents = [part for part in path.parent.parts if part != path.anchor][-depth:]
    return "__".join([*(_base_name(Path(part)) for part in parents), _base_name(path)])


def _base_name(submission: Path) -> str:
    raw = Path(os.path.abspath(submission)).name or submission.resolve().name
    name = printable(raw) or "submission"
    if len(name) > NAME_LIMIT_CHARS:
        digest = hashlib.sha256(os.fsencode(raw)).hexdigest()[:12]
        name = f"{name[: NAME_LIMIT_CHARS - 13]}-{digest}"
    return name


if __name__ == "__main__":
    sys.exit(main())
