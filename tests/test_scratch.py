"""Temporary directories of a run: private, named for their owner, swept once it is gone."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from grader.sandbox import labels, scratch
from grader.sandbox.waiting import Poll
from grader.scenarios.model import ServerSession, ServerSessionObservation
from grader.scenarios.runner import DockerSubmissionRun
from grader.spec.loader import load_spec
from tests.submissions import REPOSITORY

KILLED_RUN = """
import sys, time
from pathlib import Path
from grader.sandbox import labels, scratch
with scratch.run_directory("abc123", "run", Path(sys.argv[1])) as path:
    (path / "submission").mkdir()
    (path / "submission" / "server.py").write_text("print()")
    print(path, flush=True)
    time.sleep(600)  # killed long before: it never cleans up
"""


def test_a_run_directory_is_private_named_for_its_owner_and_removed(tmp_path: Path) -> None:
    with scratch.run_directory("0123abcd", "run", tmp_path) as path:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
        assert path.name.startswith(f"socketlab-{os.getpid()}-0123abcd-run-")
        (path / "captures").mkdir()
        (path / "captures" / "x.pcap").write_bytes(b"x")
    assert not path.exists()


def test_sweep_removes_a_killed_runs_directory_and_keeps_a_live_ones(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPOSITORY,
    )
    assert child.stdout is not None
    left_behind = Path(child.stdout.readline().strip())  # a state: the directory exists
    assert left_behind.is_dir()
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)

    with scratch.run_directory("0123abcd", "run", tmp_path) as live:
        unrelated = tmp_path / "socketlab-image-build"
        unrelated.mkdir()
        assert scratch.sweep_stale(tmp_path) == 1
        assert not left_behind.exists()
        assert live.is_dir() and unrelated.is_dir()


def test_sweep_of_a_missing_directory_removes_nothing(tmp_path: Path) -> None:
    assert scratch.sweep_stale(tmp_path / "absent") == 0


def test_gone_processes_are_told_apart_from_live_ones() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    assert Poll(10).until(lambda: True if labels.process_is_gone(child.pid) else None)
    assert not labels.process_is_gone(os.getpid())


@pytest.mark.docker
def test_programs_read_their_copy_though_the_run_directory_is_private() -> None:
    """A bind mount skips the host's parents: uid 65534 reads the 0o755 copy inside 0o700."""
    lab = load_spec(REPOSITORY / "labs" / "01-tcp-hello" / "spec.yaml")
    scenario = ServerSession()
    with DockerSubmissionRun(lab, REPOSITORY / "solutions" / "01-tcp-hello") as run:
        seen = run.observe(scenario)
        (directory,) = Path(tempfile.gettempdir()).glob(
            f"socketlab-{os.getpid()}-{run.labels.run_id}-run-*"
        )
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        assert stat.S_IMODE((directory / "submission").stat().st_mode) == 0o755
    assert isinstance(seen, ServerSessionObservation)
    assert not seen.server.missing
    assert seen.listen is not None and seen.listen.reachable
    assert seen.peer is not None and seen.peer.received == b"Hello, Client!"
    assert not directory.exists()
