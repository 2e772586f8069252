"""Grades every lab's solution, starter and broken submissions at --jobs 1 and at --jobs N.

    python -m tests.same_gradebook [--jobs 4] [--labs 01-tcp-hello ...] [--keep DIR]

Issue 9's whole-batch promise, checked end to end with the real command line: for each lab,
one `socketlab grade --jobs 1` over everything; one `--jobs N` that is interrupted with Ctrl-C
(SIGINT to its process group, as at a terminal) once a third of its submissions are graded and
then finished with `--resume`. It prints, per lab, the times, whether the two gradebooks
are identical (and the rows that differ), whether the resumed run graded any submission twice
(a finished results.json rewritten) or lost one, and what the interrupted run left on the
engine. Exits 1 when anything differs. Heavy: about an hour of gradings on two cores;
`tests/test_batch_parallel.py` checks the same promise on a small lab 01 mix in every `make test`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader.sandbox import engine
from grader.sandbox.labels import owned_by, sweep
from grader.sandbox.waiting import Poll
from tests.conftest import SOCKETLAB_AT_A_TERMINAL
from tests.grade_broken import CATALOGUE
from tests.submissions import REPOSITORY


def materialize(lab: str, parent: Path) -> list[Path]:
    """The lab's solution, starter and every broken submission, as folders under `parent`."""
    parent.mkdir(parents=True)
    folders = []
    for name, source in (
        ("solution", REPOSITORY / "solutions" / lab),
        ("starter", REPOSITORY / "labs" / lab),
    ):
        (parent / name).mkdir()
        for program in ("server.py", "client.py"):
            shutil.copy(source / program, parent / name / program)
        folders.append(parent / name)
    return folders + [broken.materialize(parent) for broken in CATALOGUE[lab]]


def grade_command(lab: str, folders: list[Path], out: Path, jobs: int, *extra: str) -> list[str]:
    """The `socketlab grade` command line for `folders`, into `out`, `jobs` at a time."""
    return [*SOCKETLAB_AT_A_TERMINAL, "grade", lab, *map(str, folders),
            "--jobs", str(jobs), "--out", str(out), *extra]  # fmt: skip


def grade(lab: str, folders: list[Path], out: Path, jobs: int, *extra: str) -> tuple[int, float]:
    """Exit status and seconds of one `socketlab grade` run."""
    started = time.monotonic()
    command = grade_command(lab, folders, out, jobs, *extra)
    done = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        print(done.stdout[-2000:], done.stderr[-2000:], sep="\n")
    return done.returncode, time.monotonic() - started


def interrupted_then_resumed(
    lab: str, folders: list[Path], out: Path, jobs: int
) -> tuple[float, list[str]]:
    """Grades with Ctrl-C after a third is done, then --resume; seconds and problems seen."""
    problems: list[str] = []
    names = [folder.name for folder in folders]
    started = time.monotonic()
    process = subprocess.Popen(
        grade_command(lab, folders, out, jobs), cwd=REPOSITORY, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip

    def graded() -> int:
        return sum(1 for name in set(names) if (out / name / "results.json").exists())

    Poll(3600).until(
        lambda: True if graded() >= len(folders) // 3 or process.poll() is not None else None
    )
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=600)
    if process.returncode != 130:
        problems.append(f"interrupted run exited {process.returncode}: {stderr[-500:]}")
    client = engine.connect()
    left = owned_by(client, process.pid)
    if left:
        problems.append(f"the interrupted run left {len(left)} container(s)/network(s)")
        sweep(client, owner_pid=process.pid)
    finished = {path: path.stat() for path in out.glob("*/results.json")}
    code, _ = grade(lab, folders, out, jobs, "--resume")
    if code not in (0, 1):
        problems.append(f"the resumed run exited {code}")
    for path, before in finished.items():
        after = path.stat()
        if (after.st_ino, after.st_mtime_ns) != (before.st_ino, before.st_mtime_ns):
            problems.append(f"graded twice: {path.parent.name}")
    missing = [name for name in names if not (out / name / "results.json").exists()]
    if missing:
        problems.append(f"lost: {', '.join(missing)}")
    print(f"  interrupted after {len(finished)} of {len(folders)}; resumed the rest")
    return time.monotonic() - started, problems


def gradebook_rows(out: Path) -> list[str]:
    """The gradebook's lines, or one line saying there is none (the run failed before it)."""
    path = out / "gradebook.csv"
    return path.read_text().splitlines() if path.exists() else [f"no gradebook in {out}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--labs", nargs="+", choices=sorted(CATALOGUE), default=sorted(CATALOGUE))
    parser.add_argument("--keep", type=Path, help="grade under this directory and keep it")
    arguments = parser.parse_args()
    differs = False
    with tempfile.TemporaryDirectory(prefix="same-gradebook-") as scratch:
        root = arguments.keep or Path(scratch)
        for lab in arguments.labs:
            shutil.rmtree(root / lab, ignore_errors=True)  # --keep given again
            folders = materialize(lab, root / lab / "submissions")
            print(f"{lab}: {len(folders)} submissions", flush=True)
            code, one_s = grade(lab, folders, root / lab / "jobs-1", 1)
            print(f"  --jobs 1: {one_s:.0f} s (exit {code})", flush=True)
            many_s, problems = interrupted_then_resumed(
                lab, folders, root / lab / f"jobs-{arguments.jobs}", arguments.jobs
            )
            print(f"  --jobs {arguments.jobs}, interrupted and resumed: {many_s:.0f} s", flush=True)
            one = gradebook_rows(root / lab / "jobs-1")
            many = gradebook_rows(root / lab / f"jobs-{arguments.jobs}")
            rows = [(a, b) for a, b in zip(one, many, strict=False) if a != b]
            if len(one) != len(many) or rows:
                problems.append(f"gradebooks differ ({len(one)} and {len(many)} rows)")
                problems += [
                    f"    --jobs 1: {a}\n    --jobs {arguments.jobs}: {b}" for a, b in rows
                ]
            for problem in problems:
                print(f"  DIFFERS: {problem}")
            if not problems:
                print("  same gradebook; nothing graded twice, nothing lost, nothing left")
            differs = differs or bool(problems)
    return 1 if differs else 0


if __name__ == "__main__":
    sys.exit(main())
