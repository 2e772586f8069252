"""The local backend: a submission's programs and the grader's peers as processes on loopback.

For machines without a Docker engine (a student's laptop; Gradescope's and PrairieLearn's
autograder containers). The scenarios and checks are the Docker backend's; only where the
programs run differs:

- The lab's address is LAB_ADDRESS (127.0.0.2), not 127.0.0.1: the student's client gets it
  as SERVER_HOST, the grader's peers bind it, and a server bound to `localhost` only is
  still caught. Runs side by side (a batch's workers) take addresses of their own
  (127.0.N.2) and ports of their own (the spec's grading port when it is free): see
  `reserved_address` and `reserved_port`. The grader's clients connect from 127.0.N.3.
- Student programs run under run_bounded.py as on Docker, which finds the listening socket
  in /proc/net among the program's own sockets (the namespace is shared): those of its uid,
  or of its session.
- Run as root (an autograder's container), each run's programs run as a user of their own
  (`reserved_uid`: a uid no process has and no other run holds), with resource limits
  (address space, processes, CPU time, file size, open files); at the end of each program
  every process of that uid is killed, also those that left its session, and its files in
  SCRATCH_DIRS are removed. The submission is a copy only that uid's group reads; the run's
  other files are in a folder only root reads, and the options of the recorder and the
  peers never go on command lines: a forked probe has them in its memory (its command line
  is its launcher's), a probe started as a program in a file of that folder.
- Not root (a student's own machine), programs run as the user who runs socketlab, with the
  same resource limits and a process limit above the user's own. That is no isolation: a
  student grades their own code there.

Packet captures run tcpdump on the loopback interface where it may (root, and tcpdump
installed): see `can_capture`.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader import interrupts
from grader.errors import InfrastructureError
from grader.sandbox.containers import PAYLOAD_MOUNT, ExitState, container_lifetime_s
from grader.sandbox.launcher import LAUNCHABLE, LaunchedProcess, launcher
from grader.sandbox.waiting import Poll
from grader.spec.model import GRADING_PORT_MAX, Input, Limits

LAB_ADDRESS = "127.0.0.2"
"""Where the lab's server is, for the student's client and the grader's peers alike."""
LAB_NAME = "server"
"""The name the Docker backend gives the lab's server (steps.SERVER_ALIAS); a local helper's
options that name it are given LAB_ADDRESS instead."""
LOOPBACK_INTERFACE = "lo"
PROBES_DIR = Path(__file__).resolve().parent.parent / "probes"
RUN_UIDS = range(61000, 65000)
"""The uids a run's programs may get when socketlab runs as root: no account needs them."""
PORTS = range(20000, GRADING_PORT_MAX + 1)
LOCKS = "socketlab-local-locks"
"""The folder (in the temporary directory) of the lock files that hold runs' addresses and
ports."""
"""Where a run's port is found when the spec's is taken: below the ephemeral ports."""
OPEN_FILES = 256
ADDRESS_SPACE_PER_MB = 4
"""A program's address space may be this many times the spec's memory_mb."""
FILE_SIZE_BYTES = 16 * 1024 * 1024
"""As on Docker: the largest file a program may write."""
STOP_WAIT_S = 5.0


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


NO_CAPTURE_ENV = "SOCKETLAB_NO_CAPTURE"
"""Set to 1, the local backend captures no packets even where it could (as on a student's
machine without root): for tests, and where tcpdump misbehaves."""


def can_capture() -> bool:
    """Whether packet checks can run here: tcpdump installed and the right to capture (root).

    Without it, the checks that judge packets are "not checked here" (socketlab check), or
    stop a grading as an infrastructure error.
    """
    if os.environ.get(NO_CAPTURE_ENV) == "1":
        return False
    return is_root() and shutil.which("tcpdump") is not None


PYTHON_CANDIDATES = ("/usr/bin/python3", "/usr/local/bin/python3")


def python3() -> str:
    """The Python that runs student programs and the grader's probes: the system's python3
    when another user may run it (programs run as a uid of their own under root), else the
    first `python3` on PATH, else the one running socketlab.

    Raises InfrastructureError when socketlab runs as root and no Python is usable by others.
    """
    found = [*PYTHON_CANDIDATES, shutil.which("python3"), sys.executable]
    candidates = [path for path in found if path and os.access(path, os.X_OK)]
    if not is_root():
        return candidates[0] if candidates else sys.executable
    for path in candidates:
        if usable_by_others(path):
            return os.path.realpath(path)
    raise InfrastructureError(
        "no python3 that another user may run: the student's programs run as a user of their"
        " own; install python3 system-wide (apt-get install python3)"
    )


def usable_by_others(path: str) -> bool:
    """Whether a user other than the owner may run `path`: the file is executable by others
    and every folder above it may be entered by them."""
    real = Path(os.path.realpath(path))
    if not real.stat().st_mode & 0o001:
        return False
    return all(parent.stat().st_mode & 0o001 for parent in real.parents)


def loopback_works() -> bool:
    """Whether LAB_ADDRESS can be bound here (Linux routes all of 127/8 to loopback; macOS
    only 127.0.0.1 unless an alias is added)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((LAB_ADDRESS, 0))
        except OSError:
            return False
    return True


def require_local() -> None:
    """Raises InfrastructureError, saying what is missing, when the local backend cannot run
    here: it needs Linux's /proc (the listening socket is found there) and LAB_ADDRESS."""
    if not Path("/proc/net/tcp").exists():
        raise InfrastructureError(
            "the local backend needs Linux (/proc/net); on macOS or Windows use Docker"
            " (--backend docker)"
        )
    if not loopback_works():
        raise InfrastructureError(
            f"the local backend needs the loopback address {LAB_ADDRESS}, which cannot be"
            " bound here"
        )


def port_is_free(port: int) -> bool:
    """Whether `port` can be bound on every address (as a server binds 0.0.0.0), for both
    TCP and UDP, right now."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                return False
    return True


@dataclass(frozen=True)
class Lab:
    """Where one run's server is: its loopback address and its port."""

    address: str
    port: int

    @property
    def client_address(self) -> str:
        """Where the grader's clients connect from: 127.0.N.3 beside the lab's 127.0.N.2, so
        that whatever the server sends them, on any socket, is this run's traffic."""
        return self.address.rpartition(".")[0] + ".3"


def lock_folder() -> Path:
    """This user's folder of lock files (LOCKS), made private on first use."""
    folder = Path(tempfile.gettempdir()) / f"{LOCKS}-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    if folder.is_symlink() or folder.stat().st_uid != os.getuid():
        raise InfrastructureError(f"{folder} is not this user's own folder: remove it")
    return folder


@contextmanager
def reserved_address() -> Iterator[str]:
    """An address for one run, held until exit: LAB_ADDRESS unless another run holds it,
    then 127.0.N.2. Runs hold addresses (and ports: reserved_port) with lock files, which
    the kernel releases when the process ends, however it ends. Raises InfrastructureError
    when none is free."""
    with ExitStack() as stack:
        addresses = [LAB_ADDRESS, *(f"127.0.{n}.2" for n in range(1, 255))]
        yield _first_held(stack, lock_folder(), "address", addresses, lambda _: True)


PORT_WAIT_S = 70.0
"""How long a run waits for a free port: a connection's TIME_WAIT lasts 60 s on Linux."""


@contextmanager
def reserved_port(preferred: int) -> Iterator[int]:
    """A port, held until exit: `preferred` when no run holds it and it can be bound on every
    address (so no connection of an earlier scenario lingers on it in TIME_WAIT), else such
    a port in PORTS.

    A program can leave thousands of ports in TIME_WAIT (connections it closed first, from
    ports it chose): then the next scenario, or the next submission, waits for them to
    expire (PORT_WAIT_S at most) rather than be refused. Raises InfrastructureError when no
    port is free after that: something else holds them.
    """
    with ExitStack() as stack:

        def attempt() -> int | None:
            ports = [preferred, *random.sample(PORTS, 200)]
            try:
                return int(_first_held(stack, lock_folder(), "port", ports, port_is_free))
            except InfrastructureError:
                return None

        port = Poll(PORT_WAIT_S, interval_s=1.0).until(attempt)
        if port is None:
            raise InfrastructureError(
                f"no free loopback port for the local backend in {PORT_WAIT_S:g} s: other"
                " processes of this machine hold them"
            )
        yield port


def _first_held(
    stack: ExitStack,
    folder: Path,
    kind: str,
    candidates: list[Any],
    usable: Callable[[Any], bool],
) -> Any:
    """The first candidate whose lock this process could take and that is `usable`; its lock
    stays held until `stack` closes. Raises InfrastructureError when there is none."""
    for candidate in candidates:
        path = folder / f"{kind}-{candidate}"
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError:
            continue
        lock = os.fdopen(descriptor, "a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        if not usable(candidate):
            lock.close()
            continue
        stack.callback(lock.close)
        return candidate
    raise InfrastructureError(f"no free loopback {kind} for the local backend")


def _processes() -> Iterator[tuple[int, bytes]]:
    """(pid, its /proc/PID/status) of each process running now (proc(5)); a process
    that ends while this reads is left out. Read as raw bytes, with no line-by-line parsing:
    a local grading reads the table after every program, and under a batch it is hundreds
    of processes long."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            descriptor = os.open(f"/proc/{name}/status", os.O_RDONLY)
        except OSError:
            continue
        try:
            status = chunk = os.read(descriptor, STATUS_READ_BYTES)
            while len(chunk) == STATUS_READ_BYTES:  # a long Groups: line comes before Threads:
                chunk = os.read(descriptor, STATUS_READ_BYTES)
                status += chunk
        except OSError:
            continue
        finally:
            os.close(descriptor)
        yield int(name), status


STATUS_READ_BYTES = 4096
"""What one read of /proc/PID/status takes: the whole file, unless the process has hundreds
of supplementary groups."""


def _status_number(status: bytes, field: bytes) -> int | None:
    """The first number of the line `field` ("Uid:", "Threads:") in a /proc/PID/status."""
    start = status.find(b"\n" + field)
    if start < 0:
        return None
    values = status[start + len(field) + 1 :].split(None, 1)
    try:
        return int(values[0])
    except (IndexError, ValueError):
        return None


def uids_in_use() -> set[int]:
    """The real uids of the processes running now (from /proc)."""
    return {
        uid for _, status in _processes() if (uid := _status_number(status, b"Uid:")) is not None
    }


@contextmanager
def reserved_uid() -> Iterator[int]:
    """A uid in RUN_UIDS for one run's programs, held until exit: no process has it now,
    and no other run holds its lock. Raises InfrastructureError when none is free."""
    taken = uids_in_use()
    with ExitStack() as stack:
        start = random.randrange(len(RUN_UIDS))  # a shuffle of them all costs milliseconds
        candidates = [*RUN_UIDS[start:], *RUN_UIDS[:start]]
        yield int(_first_held(stack, lock_folder(), "uid", candidates, lambda u: u not in taken))


def kill_uid(uid: int, timeout_s: float = 5.0) -> None:
    """SIGKILLs every process of real uid `uid`, as root, until none is left (`timeout_s` at
    most): a process that forks meanwhile is found on the next pass, and RLIMIT_NPROC bounds
    how many there can be. The grader never takes the uid itself, so nothing of the
    program's can stop or signal the killing."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = pids_of(uid)
        if not found:
            return
        for pid in found:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)


def pids_of(uid: int) -> list[int]:
    """The processes whose real uid is `uid` (from /proc)."""
    return [pid for pid, status in _processes() if _status_number(status, b"Uid:") == uid]


SCRATCH_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
"""Where a program may leave files that outlive it (the copy of its submission is read-only)."""


def clear_uid_files(uid: int) -> None:
    """Removes what `uid` left at the top of SCRATCH_DIRS (as root), so that a later run
    given the same uid finds nothing of this one."""
    for folder in SCRATCH_DIRS:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            with suppress(OSError):
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)


def tasks_of(uid: int) -> int:
    """How many processes and threads of real uid `uid` run now (from /proc): what Linux's
    RLIMIT_NPROC counts."""
    return sum(
        _status_number(status, b"Threads:") or 0
        for _, status in _processes()
        if _status_number(status, b"Uid:") == uid
    )


Output = Path | int
"""Where a process's stdout or stderr goes: a file, or an anonymous memory file's descriptor
(memfd_create(2)), read from its start."""


class LocalRunning:
    """A started process, in the shape of containers.Running: wait, signal, read its output.

    Its stdout and stderr go to memory files (or files of the run's private folder where
    there are none); the process leads a session of its own, and the whole session is
    killed on exit.
    """

    def __init__(
        self, process: subprocess.Popen[bytes] | LaunchedProcess, stdout: Output, stderr: Output
    ) -> None:
        self.process = process
        self.stdout_path = stdout
        self.stderr_path = stderr
        for output in (stdout, stderr):
            if isinstance(output, int):  # the output stays readable as long as this object
                weakref.finalize(self, os.close, output)

    @property
    def id(self) -> str:
        return str(self.process.pid)

    def wait_exit(self, timeout_s: float) -> ExitState | None:
        """The exit state once the process exits, or None if it still runs at the timeout."""
        try:
            interrupts.wait_for(lambda: self.process.wait(timeout=timeout_s))
        except subprocess.TimeoutExpired:
            return None
        return self.state()

    def state(self) -> ExitState:
        code = self.process.poll()
        return ExitState(exit_code=code, oom_killed=code is not None and self.out_of_memory())

    def out_of_memory(self) -> bool:
        """Whether the program under run_bounded.py ended with a MemoryError: how a Python
        program meets its address-space limit here, where no cgroup's OOM killer stops it."""
        for line in reversed(self.output(stdout=True).decode("utf-8", "replace").splitlines()):
            if line.startswith("RUN "):
                with suppress(ValueError, KeyError, TypeError):
                    stderr = json.loads(line.removeprefix("RUN "))["stderr"]
                    tail = base64.b64decode(stderr["tail"] or stderr["head"])
                    last = tail.decode("utf-8", "replace").strip().splitlines()[-1:]
                    return bool(last) and last[0].startswith("MemoryError")
                return False
        return False

    def is_running(self) -> bool:
        return self.process.poll() is None

    def signal(self, name: str) -> None:
        with suppress(ProcessLookupError):
            self.process.send_signal(getattr(signal, name))

    def stop(self, grace_s: float = 1.0) -> None:
        """SIGTERM, then SIGKILL to the whole session after `grace_s`."""
        self.signal("SIGTERM")
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace_s)
        self.kill()

    def kill(self) -> None:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        # InfrastructureError: the launcher that forked it ended, which whoever waits for
        # the process is told (wait_exit); the kill itself has been done.
        with suppress(subprocess.TimeoutExpired, InfrastructureError):
            self.process.wait(timeout=STOP_WAIT_S)

    def output(self, *, stdout: bool) -> bytes:
        output = self.stdout_path if stdout else self.stderr_path
        try:
            if isinstance(output, Path):
                return output.read_bytes()
            data = b""
            while chunk := os.pread(output, 1 << 20, len(data)):
                data += chunk
            return data
        except OSError:
            return b""


@contextmanager
def started_process(
    argv: list[str], folder: Path, name: str, *, env: dict[str, str] | None = None
) -> Iterator[LocalRunning]:
    """Starts `argv` in a session of its own, its output in folder/name.{out,err}; on exit
    kills the session. Raises InfrastructureError when it cannot be started."""

    def start(stdin: int, out: int, err: int) -> subprocess.Popen[bytes]:
        try:
            return subprocess.Popen(
                argv,
                stdin=stdin,
                stdout=out,
                stderr=err,
                start_new_session=True,
                env=env,
                cwd=folder,
            )
        except OSError as e:
            raise InfrastructureError(f"could not start {argv[0]}: {e}") from e

    with _running(folder, name, start) as running:
        yield running


@contextmanager
def _running(
    folder: Path,
    name: str,
    start: Callable[[int, int, int], subprocess.Popen[bytes] | LaunchedProcess],
) -> Iterator[LocalRunning]:
    """The process `start` starts with stdin, stdout and stderr (descriptors: /dev/null and
    two memory files, or folder/name.{out,err} where there are none), as a LocalRunning;
    its session is killed on exit.

    Memory files, as a file on disk costs its creation and removal (half a millisecond each
    on ext4 beside a batch's other gradings, which create and remove thousands), and a
    grading starts a dozen processes."""
    stdout: Output
    stderr: Output
    if hasattr(os, "memfd_create"):
        out_fd = os.memfd_create(f"{name}.out", os.MFD_CLOEXEC)
        err_fd = os.memfd_create(f"{name}.err", os.MFD_CLOEXEC)
        with open(os.devnull, "rb") as stdin:
            try:
                process = start(stdin.fileno(), out_fd, err_fd)
            except BaseException:
                os.close(out_fd)
                os.close(err_fd)
                raise
        stdout, stderr = out_fd, err_fd
    else:
        stdout, stderr = folder / f"{name}.out", folder / f"{name}.err"
        with (
            open(os.devnull, "rb") as stdin,
            open(stdout, "wb") as out,
            open(stderr, "wb") as err,
        ):
            process = start(stdin.fileno(), out.fileno(), err.fileno())
    running = LocalRunning(process, stdout, stderr)
    try:
        yield running
    finally:
        running.kill()


LAUNCHED_ENV = "SOCKETLAB_LAUNCHER"
"""Set to 0, every probe is started as a program of its own (python3 PROBE), not forked by
grader/probes/launcher.py: for comparing the two, and where the launcher misbehaves."""


INLINE_OPTIONS_BYTES = 16 * 1024
"""The largest options a forked probe gets in its arguments (options_argument): far below
grader/probes/launcher.py's MESSAGE_BYTES and the launcher's socket's send buffer (about
208 KiB by default), which bounds one request too."""


def launched(script: str) -> bool:
    """Whether started_probe starts `script` by the launcher (else as a program)."""
    return os.environ.get(LAUNCHED_ENV) != "0" and script in LAUNCHABLE


@contextmanager
def started_probe(
    script: str, args: list[str], folder: Path, name: str, *, env: dict[str, str] | None = None
) -> Iterator[LocalRunning]:
    """Runs the grader's probe `script` (in PROBES_DIR) with `args`, as started_process runs
    a program: forked by this process's launcher (grader.sandbox.launcher) where it can, else
    as `python3 -s PROBE ARGS`. Raises InfrastructureError when it cannot be started."""
    if not launched(script):
        argv = [python3(), "-s", str(PROBES_DIR / script), *args]
        with started_process(argv, folder, name, env=env) as running:
            yield running
        return
    probes = launcher(python3(), str(PROBES_DIR))
    environment = dict(os.environ) if env is None else env

    def start(stdin: int, out: int, err: int) -> LaunchedProcess:
        return probes.launch(script, args, str(folder), environment, (stdin, out, err))

    with _running(folder, name, start) as running:
        yield running


@dataclass
class LocalFiles:
    """The run's inputs as files of its private folder, made once each."""

    folder: Path
    _made: dict[str, Path] = field(default_factory=dict)

    def input_file(self, data: Input) -> Path:
        key = data.digest()
        if key not in self._made:
            path = self.folder / f"input-{key}"
            path.write_bytes(data.build())
            path.chmod(0o600)
            self._made[key] = path
        return self._made[key]

    def input_size_bytes(self, data: Input) -> int:
        return self.input_file(data).stat().st_size


@dataclass
class LocalContext:  # mutable: `lab` changes when a scenario needs a fresh port
    """What every process of one local run shares (the local counterpart of LabContext)."""

    private: Path
    """The run's folder only socketlab's user reads: inputs, helpers' output, captures."""
    limits: Limits
    lab: Lab
    """Where this run's server is: SERVER_HOST and SERVER_PORT."""
    uid: int | None = None
    """The uid of the run's programs when socketlab runs as root; None: socketlab's own."""
    home: Path | None = None
    """HOME for the run's programs (a folder of their own), or None: minimal_env's."""
    files: LocalFiles = field(init=False)
    _count: int = 0

    def __post_init__(self) -> None:
        self.files = LocalFiles(self.private)

    def _name(self, role: str) -> str:
        self._count += 1
        return f"{self._count:03d}-{role}"

    def rlimits(self, lifetime_s: float) -> dict[str, int]:
        """The resource limits of one student program (Python's resource names)."""
        limits = {
            # Address space, not memory used (no cgroup here): Python reserves more than it
            # touches, hence four times the spec's memory_mb, and MALLOC_ARENA_MAX keeps each
            # thread from reserving an arena of its own (64 MiB each).
            "RLIMIT_AS": self.limits.memory_mb * ADDRESS_SPACE_PER_MB * 1024 * 1024,
            "RLIMIT_CPU": int(lifetime_s) + 1,
            "RLIMIT_FSIZE": FILE_SIZE_BYTES,
            "RLIMIT_NOFILE": OPEN_FILES,
        }
        if self.uid is not None:  # counts the uid's processes: a uid of its own
            limits["RLIMIT_NPROC"] = self.limits.pids
        else:  # the user's own processes count too: those running now, and the spec's more
            limits["RLIMIT_NPROC"] = tasks_of(os.getuid()) + self.limits.pids
        return limits

    @contextmanager
    def student_program(
        self,
        submission: Path,
        file: str,
        env: dict[str, str],
        alias: str | None,
        role: str,
        stdin: Input | None = None,
        *,
        listen: tuple[str, float] | None = None,
        stop_grace_s: float | None = None,
    ) -> Iterator[LocalRunning]:
        """Runs `python3 FILE` in the submission's copy under run_bounded.py, with limits.

        The same contract as LabContext.student_program; `alias` is not used (the server is
        at the run's address). SERVER_HOST, when given, is that address.
        """
        lifetime_s = container_lifetime_s()
        wrapper: dict[str, Any] = {
            # -s: no user site-packages, where another program could have planted code.
            "argv": [python3(), "-s", file],
            "keep_bytes": self.limits.output_kb * 1024,
            "lifetime_s": lifetime_s,
            "cwd": str(submission),
            "sweep": False,
            "cgroup": False,
            "rlimits": self.rlimits(lifetime_s),
        }
        if self.uid is not None:
            wrapper["user"] = [self.uid, self.uid]
        if stop_grace_s is not None:
            wrapper["stop_grace_s"] = stop_grace_s
        if listen is not None:
            wrapper["listen"] = {
                "protocol": listen[0],
                "timeout_s": listen[1],
                "owned": True,
                "uid": self.uid,
            }
        if stdin is not None:
            wrapper["stdin"] = str(self.files.input_file(stdin))
        program_env = {**minimal_env(), **env}
        if "SERVER_HOST" in program_env:
            program_env["SERVER_HOST"] = self.lab.address
        if self.home is not None:
            program_env["HOME"] = str(self.home)
        name = self._name(role)
        options = self.options_argument(name, wrapper, "run_bounded.py")
        with started_probe("run_bounded.py", [options], self.private, name, env=program_env) as run:
            try:
                yield run
            finally:
                run.kill()
                if self.uid is not None:
                    kill_uid(self.uid)
                    clear_uid_files(self.uid)

    @contextmanager
    def helper(
        self,
        script: str,
        command: str,
        role: str,
        *,
        alias: str | None = None,
        payload: Input | None = None,
        capabilities: tuple[str, ...] = (),
    ) -> Iterator[LocalRunning]:
        """Runs a grader probe (`script`, with its JSON `command`) as a process.

        The options name the lab as on Docker; here the server's name is the run's address,
        the payload's mount is its file, and servers bind that address and watch `lo`.
        """
        options = json.loads(command)
        if options.get("host") == LAB_NAME:
            options["host"] = self.lab.address
        if payload is not None and options.get("send_file") == PAYLOAD_MOUNT:
            options["send_file"] = str(self.files.input_file(payload))
        options.setdefault("bind", self.lab.address)
        options.setdefault("source", self.lab.client_address)
        options.setdefault("loopback_replies", True)
        options.setdefault("interface", LOOPBACK_INTERFACE)
        name = self._name(role)
        arguments = [self.options_argument(name, options, script)]
        with started_probe(script, arguments, self.private, name, env=minimal_env()) as running:
            yield running

    def options_argument(self, name: str, options: dict[str, Any], script: str) -> str:
        """The argument that gives probe `script` its `options`: `@PATH` of a file in the
        run's private folder, as a command line is every user's to read (/proc/PID/cmdline),
        and options name paths and hidden checks' inputs. A probe the launcher forks gets
        them as they are, when they are small: its arguments are in its memory only (its
        command line is the launcher's), and a file costs its creation and removal; large
        ones (a spec's long payload) stay in a file, within the launcher's request size."""
        text = json.dumps(options)
        if launched(script) and len(text) <= INLINE_OPTIONS_BYTES:
            return text
        path = self.private / f"{name}.options.json"
        path.write_text(text)
        path.chmod(0o600)
        return f"@{path}"


def minimal_env() -> dict[str, str]:
    """What a program gets of socketlab's environment: a PATH, a locale, and nothing else."""
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "HOME": "/tmp",
        "MALLOC_ARENA_MAX": "2",
    }
