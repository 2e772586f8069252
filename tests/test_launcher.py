"""The local backend's probe launcher: a forked probe behaves as one started on its own.

Each test starts real probes (run_bounded.py running a shell command) through
grader.sandbox.local.started_probe, with and without the launcher where the two must agree.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from grader.errors import InfrastructureError
from grader.sandbox import launcher as launcher_module
from grader.sandbox import local
from grader.sandbox.waiting import Poll
from tests.conftest import needs_capture
from tests.submissions import REPOSITORY

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="Linux only")

ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "MARK": "from the environment"}


def options_file(folder: Path, name: str, command: str) -> str:
    options = {
        "argv": ["/bin/sh", "-c", command],
        "keep_bytes": 4096,
        "lifetime_s": 60,
        "cwd": str(folder),
        "sweep": False,
        "cgroup": False,
        "rlimits": {},
    }
    path = folder / f"{name}.options.json"
    path.write_text(json.dumps(options))
    return f"@{path}"


def record(running: local.LocalRunning) -> dict[str, object]:
    for line in running.output(stdout=True).decode().splitlines():
        if line.startswith("RUN "):
            found: dict[str, object] = json.loads(line.removeprefix("RUN "))
            return found
    raise AssertionError(f"no record: {running.output(stdout=True)!r}")


def program_stdout(found: dict[str, object]) -> bytes:
    import base64

    stream = found["stdout"]
    assert isinstance(stream, dict)
    return base64.b64decode(str(stream["head"]))


@pytest.mark.parametrize("launched", ["1", "0"], ids=["launcher", "own-process"])
def test_a_probe_gets_its_arguments_folder_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, launched: str
) -> None:
    monkeypatch.setenv(local.LAUNCHED_ENV, launched)
    options = options_file(tmp_path, "probe", 'echo "$MARK"; pwd; echo "$HOME"')
    with local.started_probe("run_bounded.py", [options], tmp_path, "probe", env=ENV) as running:
        assert running.wait_exit(30) is not None
        assert running.process.returncode == 0
        found = record(running)
    assert found["status"] == 0
    home = ""  # the probe's environment is exactly the one asked for: no HOME
    assert program_stdout(found) == f"from the environment\n{tmp_path}\n{home}\n".encode()
    assert isinstance(running.process, launcher_module.LaunchedProcess) == (launched == "1")


def descriptors(pid: int) -> set[str]:
    folder = Path(f"/proc/{pid}/fd")
    found = set()
    for entry in folder.iterdir():
        try:
            found.add(os.readlink(entry))
        except OSError:
            continue
    return found


def test_a_probe_holds_nothing_of_the_launcher(tmp_path: Path) -> None:
    options = options_file(tmp_path, "probe", "sleep 60")
    with local.started_probe("run_bounded.py", [options], tmp_path, "probe", env=ENV) as running:
        children = Path(f"/proc/{running.process.pid}/task/{running.process.pid}/children")
        Poll(30).until(lambda: children.read_text().strip() or None)  # the program runs
        launcher = launcher_module.launcher(local.python3(), str(local.PROBES_DIR))
        launchers = descriptors(launcher._process.pid)
        sockets = {link for link in launchers if link.startswith("socket:")}
        control = os.readlink(f"/proc/{launcher._process.pid}/fd/{launcher._process.args[-1]}")
        assert control in sockets, "the launcher holds its end of the control socket"
        shared = sockets & descriptors(running.process.pid)
        # A recorder holds one socket of the launcher's: the student zygote's, which it asks
        # to start Python programs (this one, a shell, it execs).
        assert control not in shared and len(shared) <= 1
        assert os.getsid(running.process.pid) == running.process.pid, "a session of its own"
        running.signal("SIGTERM")  # run_bounded passes it on; the shell ends, and so does it
        assert running.wait_exit(30) is not None
    assert record(running)["signal"] == signal.SIGTERM


def test_a_probe_killed_reports_the_signal(tmp_path: Path) -> None:
    options = options_file(tmp_path, "probe", "sleep 60")
    with local.started_probe("run_bounded.py", [options], tmp_path, "probe", env=ENV) as running:
        running.signal("SIGKILL")
        assert running.wait_exit(30) is not None
        assert running.process.returncode == -signal.SIGKILL


def test_many_probes_that_end_at_once_are_each_seen_to_end(tmp_path: Path) -> None:
    # A probe can end before its start is answered: its exit must not be lost.
    codes: list[int | None] = []

    def one(index: int) -> None:
        options = options_file(tmp_path, f"p{index}", "true")
        with local.started_probe(
            "run_bounded.py", [options], tmp_path, f"p{index}", env=ENV
        ) as running:
            running.wait_exit(30)
            codes.append(running.process.returncode)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [0] * 24


def test_a_launcher_that_ended_is_named_and_started_again(tmp_path: Path) -> None:
    options = options_file(tmp_path, "probe", "sleep 60")
    with local.started_probe("run_bounded.py", [options], tmp_path, "probe", env=ENV) as running:
        launcher = launcher_module.launcher(local.python3(), str(local.PROBES_DIR))
        os.kill(launcher._process.pid, signal.SIGKILL)
        Poll(30).until(lambda: True if not launcher.alive else None)
        with pytest.raises(InfrastructureError, match="probe launcher ended"):
            running.wait_exit(30)
        os.kill(running.process.pid, signal.SIGKILL)
    options = options_file(tmp_path, "again", "true")
    with local.started_probe("run_bounded.py", [options], tmp_path, "again", env=ENV) as running:
        assert running.wait_exit(30) is not None
        assert running.process.returncode == 0
    assert launcher_module.launcher(local.python3(), str(local.PROBES_DIR)) is not launcher


def test_a_launcher_started_with_signals_held_back_passes_none_of_that_on(
    tmp_path: Path,
) -> None:
    # The grader holds SIGINT and SIGTERM back while it cleans up and in its waiting threads
    # (grader.interrupts); a launcher first started there must not hand that mask to probes.
    running_launcher = launcher_module._launcher
    if running_launcher is not None:
        running_launcher.close()
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        options = options_file(tmp_path, "probe", "sleep 60")
        probe = local.started_probe("run_bounded.py", [options], tmp_path, "probe", env=ENV)
        running = probe.__enter__()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    try:
        assert isinstance(running.process, launcher_module.LaunchedProcess)
        pid = running.process.pid

        def blocked() -> int:
            status = Path(f"/proc/{pid}/status").read_text()
            line = next(line for line in status.splitlines() if line.startswith("SigBlk:"))
            return int(line.split()[1], 16)

        # The child lets signals through once its handlers are the probe's, just after its
        # pid is answered: a mask handed on would stay.
        assert Poll(10).until(lambda: blocked() == 0 or None), hex(blocked())
    finally:
        probe.__exit__(None, None, None)


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_signal_sent_as_soon_as_a_probe_is_started_stops_it(tmp_path: Path, name: str) -> None:
    # Until the forked child has the probe's handlers, the launcher's own would act for it;
    # a stop sent at once (a scenario that ends before it began) must not be lost.
    for index in range(40):
        options = options_file(tmp_path, f"p{index}", "exec sleep 60")
        with local.started_probe(
            "run_bounded.py", [options], tmp_path, f"p{index}", env=ENV
        ) as running:
            running.signal(name)
            assert running.wait_exit(20) is not None, f"attempt {index}: the {name} was lost"


def test_a_probe_killed_as_soon_as_it_is_started_is_gone(tmp_path: Path) -> None:
    # The grader kills a probe's whole session (its process group): the pid is answered only
    # once the group exists, so a kill at once finds it.
    for index in range(30):
        options = options_file(tmp_path, f"p{index}", "exec sleep 60")
        with local.started_probe(
            "run_bounded.py", [options], tmp_path, f"p{index}", env=ENV
        ) as running:
            running.kill()
            assert running.process.returncode == -signal.SIGKILL, f"attempt {index}"


def test_a_probe_that_cannot_be_set_up_is_the_graders_failure(tmp_path: Path) -> None:
    launcher = launcher_module.launcher(local.python3(), str(local.PROBES_DIR))
    options = options_file(tmp_path, "probe", "true")
    with open(os.devnull, "rb") as stdin, open(tmp_path / "out", "wb") as out:
        fds = (stdin.fileno(), out.fileno(), out.fileno())
        refused = pytest.raises(
            InfrastructureError, match=r"could not start run_bounded\.py: .*gone"
        )
        with refused:
            launcher.launch("run_bounded.py", [options], str(tmp_path / "gone"), ENV, fds)
    assert launcher.alive
    assert not launcher._early, "a child that never started is never reported"


SUBREAPER = """
import ctypes, os, subprocess, sys, time
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER: orphans come here
subprocess.run([sys.executable, "-c", sys.argv[1]], check=True)
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    try:
        pid, status = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        print("none left")
        break
    if pid:
        print("orphan", pid)
        break
    time.sleep(0.05)
"""

GRADER = """
from pathlib import Path
from grader.sandbox import local
folder = Path({folder!r})
options = folder / "o.json"
options.write_text('{{"argv": ["true"], "keep_bytes": 64, "cgroup": false}}')
with local.started_probe("run_bounded.py", ["@" + str(options)], folder, "p", env={{}}) as r:
    r.wait_exit(30)
"""


def test_the_launcher_is_waited_for_when_the_grader_exits(tmp_path: Path) -> None:
    # Left to end after the grader, the launcher would be an orphan, and a zombie under a
    # container's init that reaps nothing.
    grader = GRADER.format(folder=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", SUBREAPER, grader], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "none left", done.stdout + done.stderr


@needs_capture
def test_a_batch_worker_waits_for_its_launcher_before_it_ends(tmp_path: Path) -> None:
    # A worker forked by the batch's worker launcher ends by os._exit, which runs no atexit
    # function: its probe launcher must be ended before, or it is left an orphan.
    batch = (
        "import subprocess, sys\n"
        "subprocess.run([sys.executable, '-m', 'grader.cli', 'grade', '01-tcp-hello',"
        f" {str(REPOSITORY / 'solutions' / '01-tcp-hello')!r}, '--out', {str(tmp_path)!r},"
        " '--backend', 'local', '--jobs', '1'], check=True, stdout=subprocess.DEVNULL)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", SUBREAPER, batch], capture_output=True, text=True, timeout=300
    )
    assert done.stdout.strip() == "none left", done.stdout + done.stderr


def test_probes_still_running_when_the_grader_is_gone_are_stopped(tmp_path: Path) -> None:
    # The grader's end closes when it exits or dies: nothing else would stop a recorder's
    # program (until its lifetime ends) or any other probe.
    seconds = f"120.{os.getpid()}"  # names this test's program among all others
    launcher = launcher_module.Launcher(
        [local.python3(), "-s", "-u", str(local.PROBES_DIR / "launcher.py")], ENV
    )
    options = options_file(tmp_path, "probe", f"exec sleep {seconds}")
    with open(os.devnull, "rb") as stdin, open(tmp_path / "out", "wb") as out:
        fds = (stdin.fileno(), out.fileno(), out.fileno())
        recorder = launcher.launch("run_bounded.py", [options], str(tmp_path), ENV, fds)
        assert Poll(10).until(lambda: sleeping(seconds) or None)
        launcher.close()
    assert Poll(10).until(lambda: not sleeping(seconds) or None)
    assert Poll(10).until(lambda: not Path(f"/proc/{recorder.pid}").exists() or None)


def sleeping(seconds: str) -> list[int]:
    """The `sleep SECONDS` processes running now."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (entry / "cmdline").read_bytes() == f"sleep\0{seconds}\0".encode():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a process other groups needs root")
def test_the_tasks_of_a_uid_with_hundreds_of_groups_are_counted() -> None:
    # A long Groups: line puts Threads: past the first read of /proc/PID/status.
    uid = 61_999
    groups = [4_000_000_000 + n for n in range(400)]
    sleeper = subprocess.Popen(["sleep", "60"], user=uid, group=uid, extra_groups=groups)
    try:
        assert Poll(10).until(lambda: local.pids_of(uid) or None) == [sleeper.pid]
        assert len(Path(f"/proc/{sleeper.pid}/status").read_bytes()) > 4096
        assert local.tasks_of(uid) == 1
    finally:
        sleeper.kill()
        sleeper.wait()


def fork_server_processes(session: int) -> list[int]:
    """The worker launcher and the workers of the batch that leads `session`: in its
    session, and forks of the batch (the local backend's launcher is) or started with
    `--fork-server` (a launcher started as a program), and forks of that."""
    found = []
    try:
        batch = Path(f"/proc/{session}/cmdline").read_bytes()
    except OSError:
        return found
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes()
            in_session = int((entry / "stat").read_text().rpartition(")")[2].split()[3])
        except (OSError, ValueError, IndexError):
            continue
        if in_session != session or entry.name == str(session):
            continue
        if command == batch or b"--fork-server" in command.split(b"\0"):
            found.append(int(entry.name))
    return found


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def running_batch(tmp_path: Path, *, sigint_ignored: bool) -> subprocess.Popen[str]:
    solution = REPOSITORY / "solutions" / "01-tcp-hello"
    second = shutil.copytree(solution, tmp_path / "second")
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "grader.cli", "grade", "01-tcp-hello"),
            *(str(solution), str(second), "--out", str(tmp_path / "out")),
            *("--backend", "local", "--jobs", "2"),
        ],
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=ignore_sigint if sigint_ignored else None,  # as nohup starts it
    )


@needs_capture
def test_a_batch_started_with_sigint_ignored_keeps_its_workers_out_of_a_ctrl_c(
    tmp_path: Path,
) -> None:
    batch = running_batch(tmp_path, sigint_ignored=True)
    try:
        assert Poll(120).until(lambda: len(fork_server_processes(batch.pid)) >= 2 or None)
        while batch.poll() is None:  # a Ctrl-C at the terminal, again and again
            os.killpg(batch.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                batch.wait(timeout=0.2)
        output = batch.stdout.read() if batch.stdout else ""
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(batch.pid, signal.SIGKILL)
        batch.wait()
    assert batch.returncode == 0, output
    with (tmp_path / "out" / "gradebook.csv").open() as gradebook:
        rows = list(csv.DictReader(gradebook))
    assert [row["status"] for row in rows] == ["graded", "graded"], rows


SIGTERM_TO_THE_GROUP = """
import os, signal, subprocess, sys, time
from pathlib import Path
from tests.test_launcher import fork_server_processes, running_batch
batch = running_batch(Path({folder!r}), sigint_ignored=False)
deadline = time.monotonic() + 120
while len(fork_server_processes(batch.pid)) < 2 and time.monotonic() < deadline:
    time.sleep(0.05)
os.killpg(batch.pid, signal.SIGTERM)
sys.exit(0 if batch.wait(timeout=300) == 130 else 1)
"""


@needs_capture
def test_a_sigterm_to_the_batchs_process_group_waits_for_its_workers(tmp_path: Path) -> None:
    # timeout(1) and service managers signal the whole group: the worker launcher ignores it,
    # so the batch still hears of its workers' ends and waits for them. Had it ended, they
    # would be orphans, and come to the subreaper.
    batch = SIGTERM_TO_THE_GROUP.format(folder=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", SUBREAPER, batch],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPOSITORY,
    )
    assert done.stdout.strip() == "none left", done.stdout + done.stderr
