"""A class nobody has read, graded in one batch: it finishes, and each result names what it did.

Lab 02's solution with the hostile and broken programs an instructor meets: a server that
floods, a slow server, a client that forges its record, a client that probes the grading
machine, and a fork bomb. One `socketlab grade` grades them all; the batch exits 0, leaves
no container, network or temporary directory, and writes a few MB at most.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from grader.spec.loader import load_spec
from tests.conftest import GradedBatch, socketlab_with_pid
from tests.hostile import HOSTILE
from tests.submissions import LAB02, REPOSITORY, Broken, Edit

pytestmark = pytest.mark.docker

LAB = "02-tcp-echo"
SPEC = load_spec(REPOSITORY / "labs" / LAB / "spec.yaml")
PORT_LINE = 'PORT = int(os.environ.get("SERVER_PORT", "65433"))\n'

HOST_PROBER = Broken(
    "client-probes-the-host",
    LAB,
    (
        Edit(
            "client.py",
            PORT_LINE,
            PORT_LINE
            + '''

def host_addresses():
    """Every address of the grading machine a program can guess from inside its container."""
    import struct

    found = ["172.17.0.1", "host.docker.internal"]
    with open("/proc/net/route") as routes:
        for row in routes.read().splitlines()[1:]:
            fields = row.split()
            if fields[1] == "00000000":  # the default route's gateway: the host's side
                found.insert(0, socket.inet_ntoa(struct.pack("<L", int(fields[2], 16))))
    return found


reached, tried = [], 0
for address in host_addresses():
    for port in (22, 80, 2375, PORT):
        tried += 1
        try:
            socket.create_connection((address, port), timeout=0.5).close()
            reached.append(f"{address}:{port}")
        except OSError as e:
            print(f"prober: {address}:{port}: {e}", file=sys.stderr)
print(f"prober: reached {len(reached)} of {tried} host addresses: {reached}", file=sys.stderr)
HOST = host_addresses()[0]  # the mistake: the grading machine instead of SERVER_HOST
''',
        ),
    ),
    fails=frozenset(),  # not pinned: what matters is that it reaches nothing and is named
)

FORK_BOMB = Broken(
    "server-fork-bomb",
    LAB,
    (
        Edit(
            "server.py",
            "signal.signal(signal.SIGTERM, stop)\n",
            "while True:  # the mistake: every process forks again, forever\n"
            "    os.fork()\n"
            "signal.signal(signal.SIGTERM, stop)\n",
        ),
    ),
    fails=frozenset(),
)

FLOODER = next(b for b in LAB02 if b.name == "server-floods-echo")
SLOW = next(b for b in LAB02 if b.name == "server-slow-echo")
FORGER = next(b for b in HOSTILE[LAB] if "forge" in b.name)
PINNED = (FLOODER, SLOW, FORGER)


@pytest.fixture(scope="module")
def untrusted_batch(tmp_path_factory: pytest.TempPathFactory, docker_ready: Any) -> GradedBatch:
    submissions = tmp_path_factory.mktemp("untrusted")
    directories = [b.materialize(submissions) for b in (*PINNED, HOST_PROBER, FORK_BOMB)]
    out = tmp_path_factory.mktemp("untrusted-out")
    process, pid = socketlab_with_pid(
        "grade", LAB, f"solutions/{LAB}", *map(str, directories), "--out", str(out)
    )
    return GradedBatch(out, process, pid)


def test_the_batch_finishes_with_exit_0(untrusted_batch: GradedBatch) -> None:
    assert untrusted_batch.process.returncode == 0, untrusted_batch.process.stderr


def test_the_solution_keeps_full_marks(untrusted_batch: GradedBatch) -> None:
    assert untrusted_batch.failed_checks(LAB) == set()
    assert untrusted_batch.results(LAB)["score"] == SPEC.max_points


@pytest.mark.parametrize("broken", PINNED, ids=lambda b: b.name)
def test_flooder_slow_server_and_forger_fail_exactly_their_checks(
    untrusted_batch: GradedBatch, broken: Broken
) -> None:
    assert untrusted_batch.failed_checks(broken.name) == set(broken.fails)
    feedback = untrusted_batch.feedback(broken.name)
    for words in broken.mentions:
        assert words in feedback, f"feedback lacks {words!r}:\n{feedback}"


def test_the_host_prober_reaches_nothing_and_its_attempts_are_shown(
    untrusted_batch: GradedBatch,
) -> None:
    feedback = untrusted_batch.feedback(HOST_PROBER.name)
    assert "prober: reached 0 of" in feedback, feedback
    assert untrusted_batch.results(HOST_PROBER.name)["score"] < SPEC.max_points


def test_the_fork_bomb_is_named_for_the_process_limit(untrusted_batch: GradedBatch) -> None:
    feedback = untrusted_batch.feedback(FORK_BOMB.name)
    assert "processes and threads" in feedback, feedback
    assert "was killed: it used more than" not in feedback, "memory named as the cause"
    assert untrusted_batch.results(FORK_BOMB.name)["score"] < SPEC.max_points


def test_nothing_of_the_batch_is_left_behind(
    untrusted_batch: GradedBatch, docker_ready: Any
) -> None:
    assert untrusted_batch.leftovers(docker_ready) == []
    prefix = f"socketlab-{untrusted_batch.pid}-"
    assert [p for p in Path(tempfile.gettempdir()).iterdir() if p.name.startswith(prefix)] == []


def test_the_output_directory_stays_small(untrusted_batch: GradedBatch) -> None:
    size = sum(p.stat().st_size for p in untrusted_batch.out.rglob("*") if p.is_file())
    assert size < 4 << 20, f"{size} bytes in {untrusted_batch.out}"
