"""The local backend grades as Docker does: the same verdicts on every broken submission.

Each lab's whole table of broken submissions (tests/submissions.py) is graded by one
`socketlab grade --backend local`, with no Docker engine involved. The few entries whose
mistake only a container shows are LOCAL_DIFFERENCES, each with its reason (the README's
list of Docker-only guarantees says the same).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

import pytest

from grader.sandbox.local import NO_CAPTURE_ENV, is_root
from tests.conftest import (
    GradedBatch,
    grade_batch,
    needs_capture,
    socketlab,
    solution_name,
    starter_name,
)
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


SERVER_PORT_READ = re.compile(r"""environ(?:\.get\(|\[)\s*["']SERVER_PORT["']""")


def binds_a_port_of_its_own(broken: Broken) -> bool:
    """Whether the submission has a server that binds a port of its choosing, not the
    SERVER_PORT it is given: two of those graded at once on one machine would meet."""
    with tempfile.TemporaryDirectory() as parent:
        folder = broken.materialize(Path(parent))
        return any(
            SERVER_PORT_READ.search(server.read_text(errors="replace")) is None
            for server in folder.rglob("server.py")
        )


def split(broken: tuple[Broken, ...]) -> tuple[tuple[Broken, ...], tuple[Broken, ...]]:
    """The lab's entries whose server binds a port of its own, and the others."""
    own = tuple(entry for entry in broken if binds_a_port_of_its_own(entry))
    others = tuple(entry for entry in broken if entry not in own)
    return own, others


LAB01_OWN_PORT, LAB01_SHARED = split(LAB01)
LAB02_OWN_PORT, LAB02_SHARED = split(LAB02)
LAB03_OWN_PORT, LAB03_SHARED = split(LAB03)


def halves(entries: tuple[Broken, ...]) -> tuple[tuple[Broken, ...], tuple[Broken, ...]]:
    """`entries` in two batches, so that two test workers share a lab's table."""
    return entries[::2], entries[1::2]


def in_halves(entries: tuple[Broken, ...]) -> list[Any]:
    """(half, entry) parameters for the tests of a table graded in halves."""
    return [
        pytest.param(number, entry, id=entry.name)
        for number, half in enumerate(halves(entries))
        for entry in half
    ]


def local_batch(
    factory: pytest.TempPathFactory, lab: str, broken: tuple[Broken, ...], *, alone: bool
) -> GradedBatch:
    """The entries graded by one `grade --backend local`.

    `alone`: with the solution and the starter, one at a time, because a server that binds a
    port of its own (the starter, server-hard-coded-port) would meet another such server on
    the machine's shared ports (see the README). The others get ports of their own and are
    graded two at a time, as the Docker tables are (in two halves: see halves()).
    """
    if alone:
        return grade_batch(factory, lab, broken, backend="local", jobs=1)
    return grade_batch(factory, lab, broken, with_references=False, backend="local")


@pytest.fixture(scope="session")
def lab01_local_batch(tmp_path_factory: pytest.TempPathFactory) -> GradedBatch:
    return local_batch(tmp_path_factory, "01-tcp-hello", LAB01_OWN_PORT, alone=True)


@pytest.fixture(scope="session")
def lab02_local_batch(tmp_path_factory: pytest.TempPathFactory) -> GradedBatch:
    return local_batch(tmp_path_factory, "02-tcp-echo", LAB02_OWN_PORT, alone=True)


@pytest.fixture(scope="session")
def lab03_local_batch(tmp_path_factory: pytest.TempPathFactory) -> GradedBatch:
    return local_batch(tmp_path_factory, "03-udp-ping", LAB03_OWN_PORT, alone=True)


@pytest.fixture(scope="session")
def lab01_local_shared_batch(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> GradedBatch:
    return local_batch(
        tmp_path_factory, "01-tcp-hello", halves(LAB01_SHARED)[request.param], alone=False
    )


@pytest.fixture(scope="session")
def lab02_local_shared_batch(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> GradedBatch:
    return local_batch(
        tmp_path_factory, "02-tcp-echo", halves(LAB02_SHARED)[request.param], alone=False
    )


@pytest.fixture(scope="session")
def lab03_local_shared_batch(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> GradedBatch:
    return local_batch(
        tmp_path_factory, "03-udp-ping", halves(LAB03_SHARED)[request.param], alone=False
    )


def test_a_server_that_binds_a_port_of_its_own_is_graded_alone() -> None:
    """The split above finds such a server by what it reads, not by its entry's name."""
    assert [entry.name for entry in LAB01_OWN_PORT] == ["server-hard-coded-port"]
    assert not binds_a_port_of_its_own(next(e for e in LAB01 if e.name == "server-binds-localhost"))


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
@pytest.mark.parametrize("broken", LAB01_OWN_PORT, ids=lambda b: b.name)
def test_lab01_mistake_with_a_port_of_its_own_fails_its_checks_on_the_local_backend(
    lab01_local_batch: GradedBatch, broken: Broken
) -> None:
    assert_as_on_docker(lab01_local_batch, broken)


@needs_capture
@pytest.mark.parametrize(
    ("lab01_local_shared_batch", "broken"),
    in_halves(LAB01_SHARED),
    indirect=["lab01_local_shared_batch"],
    scope="session",
)
def test_lab01_mistake_fails_its_checks_on_the_local_backend(
    lab01_local_shared_batch: GradedBatch, broken: Broken
) -> None:
    assert_as_on_docker(lab01_local_shared_batch, broken)


@needs_capture
@pytest.mark.parametrize("broken", LAB02_OWN_PORT, ids=lambda b: b.name)
def test_lab02_mistake_with_a_port_of_its_own_fails_its_checks_on_the_local_backend(
    lab02_local_batch: GradedBatch, broken: Broken
) -> None:
    assert_as_on_docker(lab02_local_batch, broken)


@needs_capture
@pytest.mark.parametrize(
    ("lab02_local_shared_batch", "broken"),
    in_halves(LAB02_SHARED),
    indirect=["lab02_local_shared_batch"],
    scope="session",
)
def test_lab02_mistake_fails_its_checks_on_the_local_backend(
    lab02_local_shared_batch: GradedBatch, broken: Broken
) -> None:
    assert_as_on_docker(lab02_local_shared_batch, broken)


@needs_capture
@pytest.mark.parametrize("broken", LAB03_OWN_PORT, ids=lambda b: b.name)
def test_lab03_mistake_with_a_port_of_its_own_fails_its_checks_on_the_local_backend(
    lab03_local_batch: GradedBatch, broken: Broken
) -> None:
    assert_as_on_docker(lab03_local_batch, broken)


@needs_capture
@pytest.mark.parametrize(
    ("lab03_local_shared_batch", "broken"),
    in_halves(LAB03_SHARED),
    indirect=["lab03_local_shared_batch"],
    scope="session",
)
def test_lab03_mistake_fails_its_checks_on_the_local_backend(
    lab03_local_shared_batch: GradedBatch, broken: Broken
) -> None:
    assert_as_on_docker(lab03_local_shared_batch, broken)


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


def test_check_without_packet_capture_leaves_the_packet_checks_out_of_the_total(
    tmp_path: Path,
) -> None:
    earlier = tmp_path / "server-handshake.pcap"  # an earlier check's, captured elsewhere
    earlier.write_bytes(b"old")
    done = socketlab(
        "check",
        "01-tcp-hello",
        "--submission",
        str(REPOSITORY / "solutions" / "01-tcp-hello"),
        "--backend",
        "local",
        "--captures",
        str(tmp_path),
        env={NO_CAPTURE_ENV: "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Total: 13 / 13" in done.stdout
    assert done.stdout.count("not checked here: this check reads the packets") == 2
    # Nothing was captured: no earlier capture is passed off as this check's.
    assert not earlier.exists()
    assert "packet captures" not in done.stdout


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
    # Refused before any program ran, as without a Docker engine: no score was written.
    assert list(Path(tmp_path).iterdir()) == []


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


def test_a_traceback_names_the_submissions_folder_as_on_docker(tmp_path: Path) -> None:
    """The copy a local run grades lives at a long temporary path; feedback names it
    /submission, as Docker's mount, so Python's message fits and says the same thing."""
    submission = tmp_path / "latin-1"
    shutil.copytree(REPOSITORY / "solutions" / "01-tcp-hello", submission)
    (submission / "client.py").write_bytes(b"# caf\xe9\n" + (submission / "client.py").read_bytes())
    done = socketlab(
        "check",
        "01-tcp-hello",
        "--submission",
        str(submission),
        "--backend",
        "local",
        env={NO_CAPTURE_ENV: "1"},
    )
    assert "in file /submission/client.py on line 1, but no encoding declared" in done.stdout, (
        done.stdout
    )
    assert "socketlab-" not in done.stdout
