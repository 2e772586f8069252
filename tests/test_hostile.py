"""Student programs cannot change the record of their run; no container outlives its lifetime.

Each lab's hostile submissions (tests/hostile.py: a forger, a killer and a tracer) are graded
with the solution in one real `socketlab grade` batch; each must get exactly the checks its
honest mistake fails. The identity and lifetime tests start containers directly, on a lab
network of their own.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from grader.sandbox import image
from grader.sandbox.containers import (
    LIFETIME_ENV,
    RUN_BOUNDED,
    STUDENT_GID,
    STUDENT_UID,
    LabContext,
    container_lifetime_s,
)
from grader.sandbox.labels import RunLabels, owner_filters
from grader.sandbox.network import lab_network
from grader.sandbox.volumes import RunVolumes
from grader.sandbox.waiting import Poll
from grader.scenarios.model import ProgramRun
from grader.scenarios.steps import finish_program
from grader.spec.loader import load_spec
from grader.spec.model import Limits
from tests.conftest import GradedBatch, socketlab_with_pid
from tests.hostile import HOSTILE
from tests.submissions import REPOSITORY, Broken

LABS = tuple(HOSTILE)
# The lab network's own name server (grader/sandbox/network.py) lives as long as its network,
# with a lifetime of its own there; this module checks the containers of checks.
NAME_SERVER_ROLE = "name-server"


@pytest.fixture(scope="module", params=LABS)
def hostile_batch(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, docker_ready: Any
) -> tuple[str, GradedBatch]:
    """One lab's solution and hostile submissions, graded by one `socketlab grade`."""
    lab: str = request.param
    submissions = tmp_path_factory.mktemp(f"{lab}-hostile")
    directories = [hostile.materialize(submissions) for hostile in HOSTILE[lab]]
    out = tmp_path_factory.mktemp(f"{lab}-hostile-out")
    process, pid = socketlab_with_pid(
        "grade", lab, f"solutions/{lab}", *map(str, directories), "--out", str(out)
    )
    return lab, GradedBatch(out, process, pid)


@pytest.mark.docker
def test_hostile_submissions_get_exactly_their_honest_score(
    hostile_batch: tuple[str, GradedBatch],
) -> None:
    lab, batch = hostile_batch
    assert batch.process.returncode == 0, batch.process.stderr
    spec = load_spec(REPOSITORY / "labs" / lab / "spec.yaml")
    assert batch.failed_checks(lab) == set()
    assert batch.results(lab)["score"] == spec.max_points
    wrong: dict[str, object] = {}
    for hostile in HOSTILE[lab]:
        failed = batch.failed_checks(hostile.name)
        if failed != set(hostile.fails):
            wrong[hostile.name] = {"failed": sorted(failed), "expected": sorted(hostile.fails)}
    assert wrong == {}


@pytest.mark.docker
def test_hostile_batch_leaves_no_container_or_network(
    hostile_batch: tuple[str, GradedBatch], docker_ready: Any
) -> None:
    _, batch = hostile_batch
    assert batch.leftovers(docker_ready) == []


@pytest.mark.docker
def test_hostile_feedback_shows_what_the_attack_saw(
    hostile_batch: tuple[str, GradedBatch],
) -> None:
    lab, batch = hostile_batch
    hostile: Broken
    for hostile in HOSTILE[lab]:
        feedback = batch.feedback(hostile.name)
        for words in hostile.mentions:
            assert words in feedback, f"{hostile.name}: feedback lacks {words!r}:\n{feedback}"


WHO_AM_I = """
import os

def status(pid):
    wanted = ("Uid", "Gid", "Groups", "CapEff", "CapPrm", "CapInh", "CapAmb", "NoNewPrivs")
    with open(f"/proc/{pid}/status") as lines:
        return {k: v.split() for k, _, v in (line.partition(":") for line in lines) if k in wanted}

me, parent = status("self"), status(os.getppid())
print("uid", *me["Uid"])
print("gid", *me["Gid"])
print("groups", *me["Groups"])
for name in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
    print(name, *me[name])
print("NoNewPrivs", *me["NoNewPrivs"])
print("parent-uid", *parent["Uid"])
with open("/proc/self/oom_score_adj") as adj:
    print("oom_score_adj", adj.read().strip())
print("nice", os.nice(0))
"""

SLEEPER = """
import os, time
if os.fork() == 0:
    os.setsid()  # a child that leaves the program's session: it must not survive either
time.sleep(3600)
"""


@pytest.fixture
def lab_context(docker_ready: Any) -> Iterator[LabContext]:
    """A lab network of this test's own and a context for containers on it."""
    labels = RunLabels.new()
    runtime = image.require_image(docker_ready)
    with (
        RunVolumes(docker_ready, labels, runtime) as volumes,
        lab_network(docker_ready, labels) as network,
    ):
        yield LabContext(
            client=docker_ready,
            image=runtime,
            network=network,
            labels=labels,
            limits=Limits(),
            volumes=volumes,
        )


def run_program(context: LabContext, tmp_path: Path, source: str, timeout_s: float) -> ProgramRun:
    submission = tmp_path / "submission"
    submission.mkdir(mode=0o755)
    (submission / "program.py").write_text(source)
    (submission / "program.py").chmod(0o644)
    with context.student_program(submission, "program.py", {}, None, "client") as program:
        return finish_program(program, "program.py", timeout_s)


@pytest.mark.docker
def test_student_program_runs_as_65534_without_capabilities_under_a_root_wrapper(
    lab_context: LabContext, tmp_path: Path
) -> None:
    run = run_program(lab_context, tmp_path, WHO_AM_I, timeout_s=60)
    assert run.exit_code == 0, run.stderr_text
    lines = (line.partition(" ") for line in run.stdout_text.splitlines())
    seen = {key: value for key, _, value in lines}
    assert seen["uid"].split() == [str(STUDENT_UID)] * 4
    assert seen["gid"].split() == [str(STUDENT_GID)] * 4
    assert seen["groups"].split() == []
    for capabilities in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
        assert int(seen[capabilities], 16) == 0, capabilities
    assert seen["NoNewPrivs"] == "1"
    assert seen["parent-uid"].split() == ["0"] * 4
    assert seen["oom_score_adj"] == "1000"
    assert seen["nice"] == "19"  # its recorder keeps the CPU it needs to stop a fork loop


def test_wrapper_ends_a_program_that_closed_its_output_at_its_lifetime() -> None:
    """No Docker: the wrapper as a plain program; the lifetime holds after the pipes close."""
    program = "import os, time\nos.close(1)\nos.close(2)\ntime.sleep(120)"
    options = {"argv": [sys.executable, "-c", program], "keep_bytes": 1024, "lifetime_s": 1}
    done = subprocess.run(
        [sys.executable, str(RUN_BOUNDED), json.dumps(options)],
        capture_output=True,
        timeout=60,
        check=True,
    )
    record = json.loads(done.stdout.decode().strip().splitlines()[-1].removeprefix("RUN "))
    assert record["lifetime_expired"] is True
    assert record["signal"] == signal.SIGKILL
    assert record["elapsed_s"] < 30


def test_container_lifetime_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LIFETIME_ENV, raising=False)
    assert container_lifetime_s() == 300
    monkeypatch.setenv(LIFETIME_ENV, "7.5")
    assert container_lifetime_s() == 7.5


@pytest.mark.docker
def test_every_container_stops_on_its_own_after_its_lifetime(
    lab_context: LabContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LIFETIME_ENV, "3")
    submission = tmp_path / "submission"
    submission.mkdir(mode=0o755)
    (submission / "program.py").write_text(SLEEPER)
    (submission / "program.py").chmod(0o644)
    program_context = lab_context.student_program(submission, "program.py", {}, None, "server")
    helper_context = lab_context.tool(["sleep", "3600"], "test-sleeper")
    with program_context as program, helper_context as helper:
        # Nobody signals them: each must stop by itself, the helper within KILL_AFTER_S more.
        assert helper.wait_exit(60) is not None
        assert program.wait_exit(60) is not None
        run = finish_program(program, "program.py", 1)
    assert run.timed_out
    assert run.exit_code is None


@pytest.mark.docker
def test_containers_of_a_killed_grader_stop_on_their_own(tmp_path: Path, docker_ready: Any) -> None:
    """A grader killed with SIGKILL cannot stop anything: its containers stop by themselves."""
    submission = tmp_path / "hangs"
    submission.mkdir()
    for name in ("server.py", "client.py"):
        source = (REPOSITORY / "solutions" / "01-tcp-hello" / name).read_text()
        (submission / name).write_text(source + "\nimport time\ntime.sleep(3600)\n")
    grader = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "grader.cli",
            "check",
            "01-tcp-hello",
            "--submission",
            str(submission),
            "--captures",
            str(tmp_path / "captures"),
        ],
        cwd=REPOSITORY,
        env={**os.environ, LIFETIME_ENV: "20"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    filters = owner_filters(grader.pid)

    def of_checks(containers: list[Any]) -> list[Any]:
        return [c for c in containers if c.labels.get("socketlab.role") != NAME_SERVER_ROLE]

    def still_running(containers: list[Any]) -> list[str]:
        running = []
        for container in containers:
            try:
                container.reload()
            except docker.errors.NotFound:
                continue  # removed: another run on this engine sweeps what dead graders left
            if container.attrs["State"]["Running"]:
                running.append(container.labels.get("socketlab.role", container.name))
        return running

    try:
        # Kill it once a student's program and a helper (a capture or a grader's peer) are
        # both up.
        started = Poll(120, 0.2).until(
            lambda: (
                containers
                if len(containers := of_checks(docker_ready.containers.list(filters=filters))) >= 2
                else None
            )
        )
        assert started, "the grader did not start a program and a helper"
        os.kill(grader.pid, signal.SIGKILL)
        grader.wait(timeout=30)
        # Nobody stops them now: each stops within the lifetime (20 s), a helper within
        # timeout's SIGKILL grace (5 s) more, with margin for a loaded machine.
        stopped = Poll(120, 0.5).until(lambda: True if not still_running(started) else None)
        assert stopped, f"still running: {still_running(started)}"
    finally:
        if grader.poll() is None:
            grader.kill()
            grader.wait()
        # Another run on this engine may sweep them (their owner is dead) at the same time.
        listed = docker_ready.containers.list(all=True, filters=filters, ignore_removed=True)
        for container in listed:
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as e:
                if "already in progress" not in str(e):
                    raise
        for network in docker_ready.networks.list(filters=filters):
            # Best effort: a container still leaving it keeps it busy ("active endpoints");
            # the next run's sweep removes it, as it would after any killed grader.
            with contextlib.suppress(docker.errors.APIError):
                network.remove()
