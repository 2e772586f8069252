"""Grading many submissions at once: the same gradebook as one at a time, interrupted and resumed.

Each test runs the real `socketlab grade` and looks only at what that process made (its pid
labels its workers' containers and networks too), so other gradings may share the engine.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from grader.sandbox.labels import owned_by, sweep
from grader.sandbox.waiting import Poll
from tests.conftest import SOCKETLAB_AT_A_TERMINAL, socketlab
from tests.submissions import CORE, REPOSITORY

pytestmark = pytest.mark.docker

LAB = "01-tcp-hello"
LONG_NAME = "a-submission-folder-whose-name-is-far-longer-than-eighty-columns-" + "x" * 20
MISTAKES = ("server-binds-localhost", "client-single-recv", "server-exits-with-status-3")


def lab01_mix(parent: Path) -> Path:
    """The solution (under a very long name), the starter and a few broken submissions."""
    parent.mkdir()
    shutil.copytree(REPOSITORY / "solutions" / LAB, parent / LONG_NAME)
    starter = parent / "starter"
    starter.mkdir()
    for name in ("server.py", "client.py"):
        shutil.copy(REPOSITORY / "labs" / LAB / name, starter / name)
    chosen = [entry for entry in CORE[LAB] if entry.name in MISTAKES]
    assert len(chosen) == len(MISTAKES), "a mistake named here is no longer in tests/"
    for entry in chosen:
        entry.materialize(parent)
    return parent


def test_four_at_a_time_writes_the_gradebook_one_at_a_time_writes(
    tmp_path: Path, docker_ready: Any
) -> None:
    submissions = lab01_mix(tmp_path / "submissions")
    (submissions / "ivan.zip").write_bytes(b"PK\x05\x06" + bytes(18))  # downloaded, not unpacked
    roster = tmp_path / "roster.csv"
    roster.write_text("Student,ID,folder\nSam Starter,7,starter\nNo Show,8,absent\n")
    books, imports = {}, {}
    for jobs in ("1", "4"):
        out = tmp_path / f"out-{jobs}"
        done = socketlab("grade", LAB, "--jobs", jobs, "--submissions-from", str(submissions),
                         "--out", str(out), "--roster", str(roster))  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        books[jobs] = (out / "gradebook.csv").read_text()
        imports[jobs] = (out / "canvas.csv").read_text()
        assert "4 graded submission(s) are on no roster line" in done.stderr
        assert "ivan.zip is an archive, not a folder: it is not graded" in done.stderr
        # Not a terminal: one line per submission, never wrapped at 80 columns.
        assert f"  {LONG_NAME}: 15 / 15\n" in done.stdout
        assert "passed, of 5 graded submission(s):" in done.stdout
    assert books["1"] == books["4"] and imports["1"] == imports["4"]
    canvas = imports["4"].splitlines()
    assert canvas[2].startswith("Sam Starter,7,,,,") and canvas[2] != "Sam Starter,7,,,,"
    assert canvas[3] == "No Show,8,,,,"
    rows = books["4"].splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == sorted(
        [LONG_NAME, "starter", *MISTAKES], key=os.fsencode
    )


def test_an_interrupted_batch_resumes_without_grading_anything_twice_or_losing_any(
    tmp_path: Path, docker_ready: Any
) -> None:
    submissions = tmp_path / "submissions"
    names = [f"student-{number}" for number in range(5)]
    for name in names:
        shutil.copytree(REPOSITORY / "solutions" / LAB, submissions / name)
    out = tmp_path / "out"
    command = [*SOCKETLAB_AT_A_TERMINAL, "grade", LAB, "--jobs", "2",
               "--submissions-from", str(submissions), "--out", str(out)]  # fmt: skip
    # Its own session, so Ctrl-C (SIGINT to the terminal's process group) reaches the
    # batch and its workers, as at a terminal, and nothing else.
    process = subprocess.Popen(
        command, cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        first = Poll(600).until(
            lambda: (
                True
                if any((out / name / "results.json").exists() for name in names)
                else (False if process.poll() is not None else None)
            )
        )
        assert first, process.communicate()
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 130, stderr
        assert "Traceback" not in stderr
        assert owned_by(docker_ready, process.pid) == []
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=60)
        sweep(docker_ready, owner_pid=process.pid)
    finished = {name: (out / name / "results.json").stat() for name in names
                if (out / name / "results.json").exists()}  # fmt: skip
    assert finished and len(finished) < len(names)
    book = (out / "gradebook.csv").read_text()
    for name in names:
        graded = re.search(rf"^{re.escape(name)},[^,]*,graded,15,", book, re.MULTILINE)
        assert bool(graded) == (name in finished), book
    assert not list(out.rglob("*.partial"))

    resumed = socketlab("grade", LAB, "--jobs", "2", "--resume", "--submissions-from",
                        str(submissions), "--out", str(out))  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{len(finished)} already graded" in resumed.stdout
    for name, before in finished.items():  # not graded again: the very same files
        after = (out / name / "results.json").stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    book = (out / "gradebook.csv").read_text()
    for name in names:
        assert re.search(rf"^{re.escape(name)},[^,]*,graded,15,15,", book, re.MULTILINE), book
    graded_now = [line for line in resumed.stdout.splitlines() if ": 15 / 15" in line]
    assert len(graded_now) == len(names) - len(finished)


def test_grade_without_submissions_is_a_usage_error(tmp_path: Path) -> None:
    done = socketlab("grade", LAB, "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "--submissions-from" in done.stderr
