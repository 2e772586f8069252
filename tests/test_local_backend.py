"""The local backend grades as Docker does: the same verdicts on every broken submission.

Each lab's whole table of broken submissions (tests/submissions.py) is graded by one
`socketlab grade --backend local`, with no Docker engine involved. The few entries whose
mistake only a container shows are LOCAL_DIFFERENCES, each with its reason (the README's
list of Docker-only guarantees says the same).
"""

from __future__ import annotations

import os
import re
import socket

import pytest

from grader.sandbox.local import NO_CAPTURE_ENV, can_capture, is_root
from tests.conftest import GradedBatch, grade_batch, socketlab, solution_name, starter_name
from tests.submissions import LAB01, LAB02, LAB03, REPOSITORY, Broken

LOCAL_DIFFERENCES: dict[str, tuple[str, frozenset[str] | None]] = {
    "server-binds-host-name-address": (
        "a server bound to its host name's address is reached at that address in a"
        " container, its only one; on a machine that address is not the lab's loopback"
        " address, so the grader's clients cannot reach it at all",
        None,  # every check that connects
    ),
    "client-connects-to-localhost": (
        "the student's own server, bound to 0.0.0.0 on the same machine, answers on localhost"
        " too, so end-to-end passes; the checks against the grader's server still fail",
        frozenset({"end-to-end"}),
    ),
}
"""The broken submissions whose verdicts differ on the local backend: why, and in which
checks (None: all of them). The README lists them with the Docker-only guarantees."""

needs_capture = pytest.mark.skipif(
    not can_capture(), reason="packet capture needs root and tcpdump (make setup installs it)"
)


def local_batch(
    factory: pytest.TempPathFactory, lab: str, broken: tuple[Broken, ...]
) -> GradedBatch:
    """One at a time: the machine's ports are shared, and two submissions that hard-code the
    same port (the starter and server-hard-coded-port) would meet (see the README)."""
    return grade_batch(factory, lab, broken, backend="local", jobs=1)


@pytest.fixture(scope="session")
def lab01_local_batch(tmp_path_factory: pytest.TempPathFactory) -> GradedBatch:
    return local_batch(tmp_path_factory, "01-tcp-hello", LAB01)


@pytest.fixture(scope="session")
def lab02_local_batch(tmp_path_factory: pytest.TempPathFactory) -> GradedBatch:
    return local_batch(tmp_path_factory, "02-tcp-echo", LAB02)


@pytest.fixture(scope="session")
def lab03_local_batch(tmp_path_factory: pytest.TempPathFactory) -> GradedBatch:
    return local_batch(tmp_path_factory, "03-udp-ping", LAB03)


def assert_as_on_docker(batch: GradedBatch, broken: Broken) -> None:
    reason, differing = LOCAL_DIFFERENCES.get(broken.name, ("", frozenset()))
    if differing is None:
        pytest.skip(reason)
    assert batch.process.returncode == 0, batch.process.stderr
    assert batch.failed_checks(broken.name) - differing == set(broken.fails) - differing
    if differing:
        return  # the lesson of the differing checks is not the one listed
    feedback = batch.feedback(broken.name)
    for words in broken.mentions:
        assert words in feedback, f"feedback lacks {words!r}:\n{feedback}"


@needs_capture
@pytest.mark.parametrize("broken", LAB01, ids=lambda b: b.name)
def test_lab01_mistake_fails_its_checks_on_the_local_backend(
    lab01_local_batch: GradedBatch, broken: Broken
) -> None:
    assert_as_on_docker(lab01_local_batch, broken)


@needs_capture
@pytest.mark.parametrize("broken", LAB02, ids=lambda b: b.name)
def test_lab02_mistake_fails_its_checks_on_the_local_backend(
    lab02_local_batch: GradedBatch, broken: Broken
) -> None:
    assert_as_on_docker(lab02_local_batch, broken)


@needs_capture
@pytest.mark.parametrize("broken", LAB03, ids=lambda b: b.name)
def test_lab03_mistake_fails_its_checks_on_the_local_backend(
    lab03_local_batch: GradedBatch, broken: Broken
) -> None:
    assert_as_on_docker(lab03_local_batch, broken)


def assert_solution_full_and_starter_less(graded: GradedBatch, lab: str) -> None:
    solution = graded.results(solution_name(lab))
    assert solution["score"] == sum(test["max_score"] for test in solution["tests"])
    starter = graded.results(starter_name(lab))
    assert starter["score"] < solution["score"]


@needs_capture
def test_lab01_solution_gets_full_marks_and_the_starter_less_on_the_local_backend(
    lab01_local_batch: GradedBatch,
) -> None:
    assert_solution_full_and_starter_less(lab01_local_batch, "01-tcp-hello")


@needs_capture
def test_lab02_solution_gets_full_marks_and_the_starter_less_on_the_local_backend(
    lab02_local_batch: GradedBatch,
) -> None:
    assert_solution_full_and_starter_less(lab02_local_batch, "02-tcp-echo")


@needs_capture
def test_lab03_solution_gets_full_marks_and_the_starter_less_on_the_local_backend(
    lab03_local_batch: GradedBatch,
) -> None:
    assert_solution_full_and_starter_less(lab03_local_batch, "03-udp-ping")


def test_check_without_packet_capture_leaves_the_packet_checks_out_of_the_total() -> None:
    done = socketlab(
        "check",
        "01-tcp-hello",
        "--submission",
        str(REPOSITORY / "solutions" / "01-tcp-hello"),
        "--backend",
        "local",
        env={NO_CAPTURE_ENV: "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Total: 13 / 13" in done.stdout
    assert done.stdout.count("not checked here: this check reads the packets") == 2


def test_grading_without_packet_capture_is_an_infrastructure_error(
    tmp_path: os.PathLike[str],
) -> None:
    done = socketlab(
        "grade",
        "01-tcp-hello",
        str(REPOSITORY / "solutions" / "01-tcp-hello"),
        "--out",
        str(tmp_path),
        "--backend",
        "local",
        env={NO_CAPTURE_ENV: "1"},
    )
    assert done.returncode == 2
    assert "needs root and tcpdump" in done.stderr
    assert "not graded: " in (tmp_path / "gradebook.csv").read_text()  # type: ignore[operator]


def test_check_uses_the_local_backend_with_a_note_when_no_engine_answers() -> None:
    done = socketlab(
        "check",
        "01-tcp-hello",
        "--submission",
        str(REPOSITORY / "solutions" / "01-tcp-hello"),
        env={"DOCKER_HOST": "unix:///nonexistent/docker.sock", NO_CAPTURE_ENV: "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no Docker engine answers; your programs run as local processes" in done.stdout


@pytest.mark.skipif(not is_root(), reason="the programs get a uid of their own only under root")
def test_a_student_program_runs_as_a_uid_of_its_own_and_cannot_write_its_copy(
    tmp_path: os.PathLike[str],
) -> None:
    from pathlib import Path

    submission = Path(tmp_path) / "who"
    submission.mkdir()
    (submission / "server.py").write_text(
        "import os, sys\n"
        "try:\n    open('planted.txt', 'w')\n    wrote = 'yes'\n"
        "except OSError as e:\n    wrote = f'refused-{e.errno}'\n"
        "sys.exit(f'uid={os.getuid()} write={wrote}')\n"
    )
    (submission / "client.py").write_text("")
    done = socketlab(
        "check",
        "01-tcp-hello",
        "--submission",
        str(submission),
        "--backend",
        "local",
        env={NO_CAPTURE_ENV: "1"},
    )
    said = re.search(r"uid=(\d+) write=(\S+)", done.stdout)
    assert said is not None, done.stdout
    assert int(said.group(1)) != 0 and said.group(2).startswith("refused-")
    assert not (submission / "planted.txt").exists()


def test_the_lab_address_is_not_localhost() -> None:
    from grader.sandbox.local import LAB_ADDRESS

    assert LAB_ADDRESS != "127.0.0.1"
    with socket.socket() as probe:
        probe.bind((LAB_ADDRESS, 0))
