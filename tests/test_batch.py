"""A batch keeps what it graded: killed, interrupted, or with its Docker engine lost mid-run.

Each test runs a real `socketlab grade` of copies of the lab 01 solution and looks only at
what that process made (its owner pid), so other gradings may share the engine.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from grader.checks import check_kinds
from grader.grading import grade_submission
from grader.sandbox.labels import owned_by, owner_filters, sweep
from grader.sandbox.waiting import Poll
from grader.spec.loader import load_spec
from tests.submissions import REPOSITORY

pytestmark = pytest.mark.docker

LAB = "01-tcp-hello"
SOLUTION = REPOSITORY / "solutions" / LAB
NAMES = ("alice", "bob", "carol")


def solution_copies(parent: Path, names: tuple[str, ...] = NAMES) -> list[Path]:
    parent.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copytree(SOLUTION, parent / name)) for name in names]


def start_grade(
    submissions: list[Path] | list[bytes], out: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """A real `socketlab grade`, one submission at a time, in the background.

    Its pid labels everything it makes.
    """
    command = [sys.executable, "-m", "grader.cli", "grade", LAB, "--jobs", "1"]
    return subprocess.Popen(
        [*command, *map(os.fsdecode, submissions), "--out", str(out)],
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="backslashreplace",
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


@contextmanager
def removing_what_it_left(client: Any, process: subprocess.Popen[str]) -> Iterator[None]:
    """Stops `process` if it still runs, then removes what it made (by its owner pid)."""
    try:
        yield
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=60)
        sweep(client, owner_pid=process.pid)


def wait_until(
    condition: Callable[[], bool], process: subprocess.Popen[str], what: str, timeout_s: float
) -> None:
    """Waits for `condition`; on timeout, or if the grader ended first, fails with its output."""
    seen = Poll(timeout_s=timeout_s).until(
        lambda: True if condition() else (False if process.poll() is not None else None)
    )
    if not seen:
        process.kill()
        stdout, stderr = process.communicate(timeout=60)
        pytest.fail(f"{what} did not happen in {timeout_s} s:\n{stdout}\n{stderr}")


def gradebook(out: Path) -> dict[str, dict[str, str]]:
    with (out / "gradebook.csv").open(encoding="utf-8") as f:
        return {row["submission"]: row for row in csv.DictReader(f)}


def assert_finished_ones_are_intact_and_unfinished_ones_have_no_junit(out: Path) -> list[str]:
    """The finished submissions (those with results.json), after checking both kinds."""
    finished = [name for name in NAMES if (out / name / "results.json").exists()]
    rows = gradebook(out)
    for name in finished:
        assert json.loads((out / name / "results.json").read_text())["score"] == 15
        assert rows[name]["status"] == "graded" and rows[name]["score"] == "15"
        assert (out / name / "junit.xml").exists()
    for name in NAMES:
        if name not in finished:
            assert not (out / name / "junit.xml").exists(), f"{name} looks complete"
            assert rows.get(name, {}).get("status", "not graded").startswith("not graded")
    return finished


def test_kill_9_keeps_every_finished_submission_and_its_gradebook_row(
    tmp_path: Path, docker_ready: Any
) -> None:
    out = tmp_path / "out"
    process = start_grade(solution_copies(tmp_path / "submissions"), out)
    with removing_what_it_left(docker_ready, process):
        first = out / NAMES[0] / "results.json"
        wait_until(first.exists, process, "the first results.json", timeout_s=600)
        process.kill()
        process.communicate(timeout=60)
    finished = assert_finished_ones_are_intact_and_unfinished_ones_have_no_junit(out)
    assert NAMES[0] in finished


def test_sigterm_keeps_finished_results_marks_the_rest_and_removes_its_containers(
    tmp_path: Path, docker_ready: Any
) -> None:
    out = tmp_path / "out"
    process = start_grade(solution_copies(tmp_path / "submissions"), out)
    with removing_what_it_left(docker_ready, process):
        first = out / NAMES[0] / "results.json"
        wait_until(first.exists, process, "the first results.json", timeout_s=600)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 130, stderr
        assert "Traceback" not in stderr
        assert owned_by(docker_ready, process.pid) == []
    finished = assert_finished_ones_are_intact_and_unfinished_ones_have_no_junit(out)
    assert NAMES[0] in finished
    assert set(gradebook(out)) == set(NAMES)
    if len(finished) < len(NAMES):
        assert "graded submission(s) were kept" in stderr
    assert not list(out.rglob("*.partial"))


@contextmanager
def docker_proxy() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A proxy to the real engine socket: (its DOCKER_HOST, its process, to kill)."""
    upstream = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not upstream.startswith("unix://"):
        pytest.fail(f"this test proxies a Unix socket; DOCKER_HOST is {upstream}")
    directory = Path(tempfile.mkdtemp(prefix="sl-proxy-"))  # short: socket paths are limited
    listen = directory / "docker.sock"
    script = Path(__file__).with_name("docker_proxy.py")
    proxy = subprocess.Popen(
        [sys.executable, str(script), str(listen), upstream.removeprefix("unix://")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proxy.stdout is not None and proxy.stdout.readline().strip() == "ready"
        yield f"unix://{listen}", proxy
    finally:
        if proxy.poll() is None:
            proxy.kill()
        proxy.communicate(timeout=60)
        shutil.rmtree(directory, ignore_errors=True)


def test_docker_engine_lost_mid_batch_exits_2_with_a_message_and_no_traceback(
    tmp_path: Path, docker_ready: Any
) -> None:
    out = tmp_path / "out"
    submissions = solution_copies(tmp_path / "submissions")
    with docker_proxy() as (docker_host, proxy):
        process = start_grade(submissions, out, env={"DOCKER_HOST": docker_host})
        with removing_what_it_left(docker_ready, process):
            wait_until(
                lambda: bool(docker_ready.containers.list(filters=owner_filters(process.pid))),
                process,
                "the grader's first container",
                timeout_s=300,
            )
            proxy.kill()  # the engine is gone for the grader: calls in flight fail
            stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 2, stdout + stderr
    assert "the Docker engine was lost" in stderr
    assert "Traceback" not in stdout + stderr
    rows = gradebook(out)
    assert set(rows) == set(NAMES)
    for name in NAMES:
        assert rows[name]["status"].startswith("not graded:"), rows[name]
        assert rows[name]["score"] == ""
        assert not (out / name / "results.json").exists()
        assert not (out / name / "junit.xml").exists()
    assert "Nothing was graded; no score was written." in stderr


def test_a_folder_whose_name_is_not_utf8_is_graded_and_named_with_escapes(
    tmp_path: Path, docker_ready: Any
) -> None:
    parent = os.fsencode(tmp_path / "submissions")
    os.mkdir(parent)
    folder = os.path.join(parent, b"stud\xe9nt")
    shutil.copytree(os.fsencode(SOLUTION), folder)
    out = tmp_path / "out"
    process = start_grade([folder], out)
    with removing_what_it_left(docker_ready, process):
        stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stdout + stderr
    assert "stud\\xe9nt: 15 / 15" in stdout
    assert json.loads((out / "stud\\xe9nt" / "results.json").read_text())["score"] == 15
    assert gradebook(out)["stud\\xe9nt"]["score"] == "15"


def test_a_bug_in_one_checks_judging_code_fails_only_that_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, docker_ready: Any
) -> None:
    def broken_judge(params: object, observation: object, lab: object) -> Any:
        raise ZeroDivisionError("a bug in the judge")

    kinds = check_kinds()
    broken = kinds["server_sends"].__class__(
        **{**kinds["server_sends"].__dict__, "judge": broken_judge}
    )
    monkeypatch.setitem(kinds, "server_sends", broken)
    lab = load_spec(REPOSITORY / "labs" / LAB / "spec.yaml")
    junit = tmp_path / "junit.xml"
    outcome = grade_submission(lab, SOLUTION, skip_hidden=False, junit_xml=junit)
    assert outcome.infrastructure_failure is None and outcome.result is not None
    statuses = {check.check_id: check.status for check in outcome.result.checks}
    assert statuses.pop("server-greeting") == "error"
    assert set(statuses.values()) == {"passed"}
    error = outcome.result.errors[0]
    assert error.error is not None and "bug in the grader" in error.error
    assert error.error_detail is not None and "ZeroDivisionError" in error.error_detail
    assert "a bug in the judge" in junit.read_text()


def test_engine_lost_after_one_submission_keeps_it_and_says_how_many_were_kept(
    tmp_path: Path, docker_ready: Any
) -> None:
    out = tmp_path / "out"
    submissions = solution_copies(tmp_path / "submissions")
    with docker_proxy() as (docker_host, proxy):
        process = start_grade(submissions, out, env={"DOCKER_HOST": docker_host})
        with removing_what_it_left(docker_ready, process):
            first = out / NAMES[0] / "results.json"
            wait_until(first.exists, process, "the first results.json", timeout_s=600)
            proxy.kill()
            stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 2, stdout + stderr
    assert "the Docker engine was lost" in stderr
    assert "Traceback" not in stdout + stderr
    assert "Nothing was graded" not in stderr
    finished = assert_finished_ones_are_intact_and_unfinished_ones_have_no_junit(out)
    assert f"{len(finished)} graded submission(s) were kept" in stderr
    assert set(gradebook(out)) == set(NAMES)
