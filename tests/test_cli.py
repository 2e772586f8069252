"""The command line as users run it: exit codes, output files, and cleanup on Ctrl-C."""

from __future__ import annotations

import os
import pty
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from grader.cli import _unique_names
from grader.sandbox.labels import (
    MANAGED,
    OWNER_HOST,
    OWNER_PID,
    RUN,
    owned_by,
    owner_filters,
    sweep,
)
from grader.sandbox.waiting import Poll
from tests.conftest import SOCKETLAB_AT_A_TERMINAL, socketlab
from tests.submissions import LAB01, REPOSITORY

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def test_grade_without_docker_exits_2_and_writes_no_score(tmp_path: Path) -> None:
    done = socketlab(
        "grade", "01-tcp-hello", "solutions/01-tcp-hello", "--out", str(tmp_path), env=NO_DOCKER
    )
    assert done.returncode == 2
    assert "cannot reach the Docker engine" in done.stderr
    assert "`--backend local`" in done.stderr  # the way to grade without an engine
    assert list(tmp_path.iterdir()) == []


def test_check_on_docker_without_docker_exits_2() -> None:
    """Asked for Docker (--backend docker); without it, `check` runs locally instead
    (tests/test_local_backend.py)."""
    done = socketlab("check", "01-tcp-hello", "--backend", "docker", env=NO_DOCKER)
    assert done.returncode == 2
    assert "Hint:" in done.stderr


def test_image_build_waiting_for_an_engine_that_never_answers_exits_2_in_time() -> None:
    done = socketlab("image", "build", "--wait-for-engine", "3", env=NO_DOCKER, timeout_s=60)
    assert done.returncode == 2
    assert "waiting up to 3 s for the Docker engine" in done.stdout
    assert "cannot reach the Docker engine in 3 s" in done.stderr


@pytest.mark.docker
def test_image_build_waits_for_an_engine_that_starts_late(
    tmp_path: Path, docker_ready: Any
) -> None:
    """As on a CI runner whose engine starts beside the job: setup waits, then goes on."""
    upstream = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not upstream.startswith("unix://"):
        pytest.fail(f"this test proxies a Unix socket; DOCKER_HOST is {upstream}")
    directory = Path(tempfile.mkdtemp(prefix="sl-late-"))  # short: socket paths are limited
    late = directory / "docker.sock"
    build = subprocess.Popen(
        [sys.executable, "-m", "grader.cli", "image", "build", "--wait-for-engine", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPOSITORY,
        env={**os.environ, "DOCKER_HOST": f"unix://{late}"},
    )
    script = Path(__file__).with_name("docker_proxy.py")
    proxy = None
    try:
        assert build.stdout is not None
        assert "waiting up to 120 s for the Docker engine" in build.stdout.readline()
        proxy = subprocess.Popen(
            [sys.executable, str(script), str(late), upstream.removeprefix("unix://")],
            stdout=subprocess.DEVNULL,
        )
        _, stderr = build.communicate(timeout=300)
        assert build.returncode == 0, stderr
    finally:
        build.kill()
        if proxy is not None:
            proxy.kill()
            proxy.wait(timeout=60)
        shutil.rmtree(directory, ignore_errors=True)


def test_unknown_lab_exits_2_and_lists_the_labs() -> None:
    done = socketlab("check", "99-nope")
    assert done.returncode == 2
    assert "01-tcp-hello" in done.stderr


def test_malformed_spec_exits_2_naming_file_line_and_field(tmp_path: Path) -> None:
    lab = tmp_path / "01-tcp-hello"
    lab.mkdir()
    spec = (REPOSITORY / "labs" / "01-tcp-hello" / "spec.yaml").read_text()
    (lab / "spec.yaml").write_text(spec.replace("points: 2\n", "points: two\n", 1))
    done = socketlab("check", str(lab))
    assert done.returncode == 2
    assert f"{lab / 'spec.yaml'}:" in done.stderr
    assert "checks[0].points" in done.stderr


@pytest.mark.docker
def test_missing_runtime_image_exits_2_and_writes_no_score(tmp_path: Path) -> None:
    done = socketlab(
        "grade",
        "01-tcp-hello",
        "solutions/01-tcp-hello",
        "--out",
        str(tmp_path),
        env={"SOCKETLAB_RUNTIME_IMAGE": "socketlab-runtime:does-not-exist"},
    )
    assert done.returncode == 2
    assert "socketlab image build" in done.stderr
    assert not (tmp_path / "01-tcp-hello" / "results.json").exists()


def _at_a_terminal(*arguments: str, timeout_s: float = 600) -> tuple[int, str]:
    """Runs socketlab with a pseudo-terminal as its stdout and stderr: exit status, output."""
    controller, terminal = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "grader.cli", *arguments],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        cwd=REPOSITORY,
        env={**os.environ, "COLUMNS": "200", "TERM": "xterm"},
    ) as process:
        os.close(terminal)
        output = bytearray()
        while True:
            try:
                data = os.read(controller, 1 << 16)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not data:
                break
            output += data
        os.close(controller)
        status = process.wait(timeout=timeout_s)
    return status, output.decode("utf-8", "replace")


@pytest.mark.docker
def test_check_exits_0_when_everything_passes_and_names_each_check_while_it_runs(
    tmp_path: Path,
) -> None:
    status, output = _at_a_terminal(
        "check", "01-tcp-hello", "--submission", "solutions/01-tcp-hello", "--captures",
        str(tmp_path),
    )  # fmt: skip
    assert status == 0, output
    assert "Total: 15 / 15" in output
    # The live line reached the terminal while the first check ran (pytest's capture of
    # file descriptors once kept it from the terminal until each check had ended).
    assert "check 1 of 10: The server listens on SERVER_PORT on all interfaces" in output


@pytest.mark.docker
def test_check_exits_1_and_explains_when_a_check_fails(tmp_path: Path) -> None:
    broken = next(b for b in LAB01 if b.name == "server-greeting-with-newline")
    done = socketlab(
        "check",
        "01-tcp-hello",
        "--submission",
        str(broken.materialize(tmp_path)),
        "--captures",
        str(tmp_path / "captures"),
    )
    assert done.returncode == 1
    assert "received: b'Hello, Client!\\n'" in done.stdout


@pytest.mark.docker
def test_plain_pytest_grades_a_submission() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "labs/01-tcp-hello",
            "--submission",
            "solutions/01-tcp-hello",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        capture_output=True,
        text=True,
        cwd=REPOSITORY,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout
    assert "10 passed" in done.stdout


def test_plain_pytest_with_a_submission_that_is_not_there_is_a_usage_error() -> None:
    """Not ten failed checks (a zero) for a typo in a path."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "labs/01-tcp-hello", "--submission", "no/such/dir",
         "-q", "-p", "no:cacheprovider"],
        capture_output=True, text=True, cwd=REPOSITORY, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "--submission no/such/dir: no such folder" in done.stderr
    assert "failed" not in done.stdout


def test_grade_with_out_naming_a_file_is_a_usage_error_before_anything(tmp_path: Path) -> None:
    (tmp_path / "results").write_text("not a folder")
    done = socketlab(
        "grade", "01-tcp-hello", "solutions/01-tcp-hello", "--out", str(tmp_path / "results"),
        env=NO_DOCKER,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith("is a file, not a folder")
    assert "Traceback" not in done.stderr


def start_check(submission: str = "solutions/01-tcp-hello") -> subprocess.Popen[str]:
    """A real `socketlab check` in the background; its pid is the owner-pid on what it makes."""
    return subprocess.Popen(
        [*SOCKETLAB_AT_A_TERMINAL, "check", "01-tcp-hello", "--submission", submission],
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_its_first_container(client: Any, process: subprocess.Popen[str]) -> None:
    """Waits until `process` itself has a container: it has started and is grading.

    Only its own resources count (owner pid): other gradings may run on the same engine.
    """
    started = Poll(timeout_s=120).until(
        lambda: client.containers.list(filters=owner_filters(process.pid)) or None
    )
    if started is None:
        process.kill()
        _, stderr = process.communicate(timeout=60)
        pytest.fail(f"socketlab started no container in 120 s:\n{stderr}")


@pytest.mark.docker
def test_ctrl_c_during_a_check_removes_its_containers_and_network(docker_ready: Any) -> None:
    process = start_check()
    try:
        wait_for_its_first_container(docker_ready, process)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 130, stderr
        assert owned_by(docker_ready, process.pid) == []
    finally:
        sweep(docker_ready, owner_pid=process.pid)


@pytest.mark.docker
def test_ctrl_c_of_one_check_leaves_another_grading_on_the_engine_alone(
    docker_ready: Any,
) -> None:
    """The shared-engine case: two gradings at once, one interrupted, the other unharmed."""
    other = start_check()
    interrupted = start_check()
    try:
        wait_for_its_first_container(docker_ready, other)
        wait_for_its_first_container(docker_ready, interrupted)
        interrupted.send_signal(signal.SIGINT)
        _, stderr = interrupted.communicate(timeout=120)
        assert interrupted.returncode == 130, stderr
        assert owned_by(docker_ready, interrupted.pid) == []
        stdout, stderr = other.communicate(timeout=600)
        assert other.returncode == 0, stdout + stderr
        assert "Total: 15 / 15" in stdout
        assert owned_by(docker_ready, other.pid) == []
    finally:
        for process in (other, interrupted):
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=60)
            sweep(docker_ready, owner_pid=process.pid)


@pytest.mark.docker
def test_clean_removes_what_a_killed_run_left(docker_ready: Any) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    labels = {
        MANAGED: "1",
        RUN: "leftover",
        OWNER_HOST: os.uname().nodename,
        OWNER_PID: dead.stdout.strip(),
    }
    from grader.sandbox.image import runtime_image

    container = docker_ready.containers.create(runtime_image(), ["true"], labels=labels)
    done = socketlab("clean")
    assert done.returncode == 0
    leftover = {MANAGED + "=1", RUN + "=leftover"}
    assert container.id not in [
        c.id for c in docker_ready.containers.list(all=True, filters={"label": list(leftover)})
    ]


@pytest.mark.docker
def test_clean_leaves_a_running_grading_alone(docker_ready: Any) -> None:
    process = start_check()
    try:
        wait_for_its_first_container(docker_ready, process)
        assert socketlab("clean").returncode == 0
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stdout + stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=60)
        sweep(docker_ready, owner_pid=process.pid)


def test_a_submission_folder_named_like_an_output_file_gets_a_name_of_its_own(
    tmp_path: Path,
) -> None:
    names = _unique_names([tmp_path / "gradebook.csv", tmp_path / "a" / "gradebook.csv", Path("/")])
    assert names == [f"{tmp_path.name}__gradebook.csv", "a__gradebook.csv", "submission"]


def test_grade_into_another_labs_out_exits_2_and_keeps_its_results(tmp_path: Path) -> None:
    """Grading lab 02 where lab 01's results are would replace them: refused before Docker."""
    record = tmp_path / "alice" / "grade.json"
    record.parent.mkdir()
    record.write_text('{"version": 2, "lab": "01-tcp-hello"}\n')
    for resume in ((), ("--resume",)):
        done = socketlab("grade", "02-tcp-echo", "solutions/02-tcp-echo", *resume,
                         "--out", str(tmp_path), env=NO_DOCKER)  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert "holds results of 01-tcp-hello, not 02-tcp-echo" in done.stderr
        assert "give another --out" in done.stderr
    assert record.read_text() == '{"version": 2, "lab": "01-tcp-hello"}\n'
    assert sorted(path.name for path in tmp_path.iterdir()) == ["alice"]


def test_check_with_captures_that_are_no_folder_of_captures_says_so(tmp_path: Path) -> None:
    """No traceback, and nothing but the lab's own capture files is ever removed."""
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    done = socketlab("check", "01-tcp-hello", "--captures", str(a_file), env=NO_DOCKER)
    assert done.returncode == 2
    assert "is a file, not a folder" in done.stderr and "Traceback" not in done.stderr
    (tmp_path / "server-close.pcap").mkdir()
    done = socketlab("check", "01-tcp-hello", "--captures", str(tmp_path), env=NO_DOCKER)
    assert done.returncode == 2
    assert "is not a packet capture" in done.stderr and "Traceback" not in done.stderr
    assert a_file.read_text() == "mine"
