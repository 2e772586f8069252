"""Runs a student's program and keeps a bounded record of what it printed.

The container's main process (under Docker's init), started as root with only the
capabilities it needs: SETUID and SETGID to start the program as another user, KILL to signal
it. The program runs as that other user (uid/gid 65534, no supplementary groups), in a session
of its own, with its stdout and stderr on pipes to this wrapper. A process of uid 65534 cannot
signal, trace, or read or write the memory or file descriptors of this root process, and its
output reaches Docker's log only inside this wrapper's record: so nothing the program does can
change what the record says about it.

On the local backend the program may instead be forked by the probe launcher's student
zygote (student_zygote.py, beside this file), an interpreter that has started already and
becomes what the exec would have started; the rest is the same.

The wrapper drains both pipes as fast as they come, so a flood never blocks or fills
anything, and keeps the first and the last `keep_bytes // 2` bytes of each stream. At the end
it prints one line `RUN {json}` with the exit status and both streams (base64).

Options (one JSON argument):
    argv: list[str]          the program to run
    keep_bytes: int          bytes kept per stream (first half and last half)
    stdin: str, optional     a file to give the program as stdin (else /dev/null)
    user: [uid, gid], opt.   run the program as this user (needs root with SETUID/SETGID)
    cwd: str, optional       the program's working directory, entered as that user
    lifetime_s: float, opt.  overall limit: past it the program is killed and the record
                             printed (default LIFETIME_S); a killed grader leaves nothing behind
    stop_grace_s: float, opt.  a program still running this long after a SIGTERM or SIGINT
                             was passed on to it is killed, as by SIGUSR2 (killed_by_grader)
    stop_quiet_max_s: float, opt.  how long a stop signal may be held while the program is
                             busy (default QUIET_MAX_S)
    sweep: bool, optional    at the end kill every other process of the container's PID
                             namespace, also those the program moved out of its session; only
                             honoured where this wrapper runs directly under the namespace's init
    host: bool, optional     this wrapper was started with `docker exec` in a long-lived
                             container (grader.sandbox.student_host) whose init is an idle
                             process, and runs one program after another. Then the sweep is
                             allowed (the exec's parent is outside the namespace), this wrapper
                             is the subreaper of the program's orphans and reaps them, the sweep
                             runs before the program too, what `user` left in the writable
                             folders (SCRATCH_DIRS) is removed before it starts, and stdin
                             carries the grader's commands, a line each: SIGTERM or SIGINT
                             (passed on as those signals are), SIGUSR2 (time is up); stdin's
                             end (the grader is gone) is SIGUSR2 too
    cgroup: bool, optional   read the container's cgroup counters (default true); false where
                             this wrapper runs in no container of its own (the local
                             backend): then process_limit_hits, oom_kills and
                             peak_processes are None
    rlimits: {name: n}, opt. resource limits set on the program before it starts, by the
                             names of Python's resource module (RLIMIT_AS, RLIMIT_NPROC, ...)
    listen: {protocol, timeout_s, owned, uid}, optional   watch the network namespace
                             (listen_watch.py, beside this file) from the program's
                             start until a TCP socket
                             listens or an unconnected UDP socket is bound ("tcp" or "udp"),
                             the program exits, or timeout_s passes, then print one line
                             `LISTEN {"listeners": [[address, port, ipv6_only], ...],
                             "waited_s": seconds, "program_exited": bool}` (empty
                             listeners: none came; program_exited: printed because the
                             program had exited). With `owned` true, only the program's
                             sockets count (the namespace is shared): those of `uid` when
                             given, else those its session holds. No helper
                             container and no connection: the program's first client is
                             the grader's.

The record (read by grader.scenarios.steps.finish_program):
    elapsed_s: float         from start to the program's exit, measured here
    status: int              exit status, or 128 + n when signal n ended it
    signal: int | None       the signal that ended it
    killed_by_grader: bool   ended by SIGUSR2 ("time is up")
    stop_signal_after_exit: bool   a SIGTERM or SIGINT came when the program had already
                             exited on its own (so its exit status says nothing about it)
    stop_signal_while_running: bool   a SIGTERM or SIGINT reached the program while it ran
                             (what it printed after is its way of stopping)
    stop_signal_s: float | None  when (from the start) a SIGTERM or SIGINT was passed on to
                             the running program, or None
    lifetime_expired: bool   ended because lifetime_s ran out
    lifetime_s: float
    process_limit_hits: int | None   forks and thread starts refused by the container's pids
                             limit while the program ran (the cgroup's pids.events `max`
                             counter); None where the cgroup does not show it
    ports_held: [int] | None (host mode) local TCP ports outside the ephemeral range still held
                             in the network namespace after the sweep (ports_held())
    leftovers: [str]         (host mode) what the run left that a later one could meet, after
                             the sweep and clearing (leftovers()); empty: nothing
    oom_kills: int | None    processes the kernel's OOM killer killed in the container while
                             the program ran (the memory cgroup's `oom_kill` counter); None
                             where the cgroup does not show it
    peak_processes: int | None  the most processes and threads of the program seen at once
                             (the cgroup's pids.current, sampled as output comes, at least
                             twice a second, and when the program exits), without this
                             wrapper and init; None where the cgroup does not show it
    stdout, stderr: {"head": base64, "tail": base64, "total": bytes printed, "sha256": hex}

Signals: SIGTERM and SIGINT are passed on to the program (its own shutdown is under test), once
it is quiet: no thread running or runnable (StopSignals, at most QUIET_MAX_S after they came);
SIGUSR2 is the grader's "time is up": the program and everything it started are killed and the
record is printed. SIGALRM is this wrapper's own lifetime timer.

If the program cannot be started at all (a fault of the grader, not of the program) the
wrapper prints `WRAPPER-ERROR {json}` with the reason instead of a record.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

LIFETIME_S = 300.0
"""Default overall limit on one run, well above any check's own timeouts."""
SWEEP_TIMEOUT_S = 5.0
# The container's pids cgroup: its `max` counter counts forks refused at the limit. The first
# path is cgroup v1's, the second v2's.
PIDS_EVENTS = ("/sys/fs/cgroup/pids/pids.events", "/sys/fs/cgroup/pids.events")
PIDS_CURRENT = ("/sys/fs/cgroup/pids/pids.current", "/sys/fs/cgroup/pids.current")


CGROUP_COUNTERS = [True]
"""Whether the cgroup counters are the program's (the `cgroup` option)."""


def processes_now() -> int | None:
    """The container's processes and threads right now (pids.current), or None if unknown."""
    if not CGROUP_COUNTERS[0]:
        return None
    for path in PIDS_CURRENT:
        try:
            with open(path) as current:
                return int(current.read())
        except (OSError, ValueError):
            continue
    return None


def process_limit_refusals() -> int | None:
    """How many forks the container's pids limit has refused so far, or None if unknown."""
    if not CGROUP_COUNTERS[0]:
        return None
    for path in PIDS_EVENTS:
        try:
            with open(path) as events:
                for line in events:
                    name, _, value = line.partition(" ")
                    if name == "max":
                        return int(value)
        except (OSError, ValueError):
            continue
    return None


# The container's memory cgroup: its `oom_kill` counter (cgroup v1, then v2).
OOM_EVENTS = ("/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events")
SCRATCH_DIRS = ("/tmp", "/dev/shm")
"""The folders a student's program can write in (the root file system is read-only)."""
CLEAR_TIMEOUT_S = 5.0
"""The longest clear_scratch may take; what it did not remove by then is a leftover."""
COMMANDS = {"SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT, "SIGUSR2": signal.SIGUSR2}
"""What the grader may write on a host-mode wrapper's stdin, a line each."""


def oom_kills() -> int | None:
    """How many processes the OOM killer has killed in the container so far, or None."""
    if not CGROUP_COUNTERS[0]:
        return None
    for path in OOM_EVENTS:
        try:
            with open(path) as events:
                for line in events:
                    name, _, value = line.strip().partition(" ")
                    if name == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            continue
    return None


TCP_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
PORT_RANGE = "/proc/sys/net/ipv4/ip_local_port_range"


def ports_held() -> list[int] | None:
    """Local TCP ports outside the ephemeral range still held in this network namespace.

    Read after the sweep, when no process is left: what remains is the kernel's (TIME_WAIT,
    FIN_WAIT2 and the like, for up to a minute). A later program that binds such a port
    without SO_REUSEADDR (a server's own port, a client's fixed one) would fail where a fresh
    namespace lets it; ports connect() chose are skipped, the next connect() chooses others.
    None where /proc does not show it.
    """
    try:
        with open(PORT_RANGE) as numbers:
            low, high = (int(n) for n in numbers.read().split())
    except (OSError, ValueError):
        return None
    held: set[int] = set()
    for table in TCP_TABLES:
        try:
            with open(table) as lines:
                next(lines, None)  # the header
                for line in lines:
                    fields = line.split()
                    if len(fields) > 1:
                        port = int(fields[1].rpartition(":")[2], 16)
                        if not low <= port <= high:
                            held.add(port)
        except (OSError, ValueError):
            continue
    return sorted(held)


def _remove_tree(path: str) -> None:
    """Removes `path` as its owner, also folders made unreadable or read-only (chmod first)."""
    if os.path.islink(path) or not os.path.isdir(path):
        with contextlib.suppress(OSError):
            os.unlink(path)
        return
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    try:
        entries = os.listdir(path)
    except OSError:
        entries = []
    for entry in entries:
        _remove_tree(os.path.join(path, entry))
    with contextlib.suppress(OSError):
        os.rmdir(path)


def clear_scratch(
    uid: int,
    gid: int,
    folders: tuple[str, ...] = SCRATCH_DIRS,
    timeout_s: float = CLEAR_TIMEOUT_S,
) -> None:
    """Removes what `uid` left in `folders`, as that user, in a child of its own.

    As that user, not as root: root here has no CAP_DAC_OVERRIDE and could not enter a folder
    the program made private. Folders it made read-only are made writable again first.
    Nothing an earlier program wrote reaches the next one (leftovers() says if it did). The
    child is killed after `timeout_s` seconds (a program that left files by the hundred
    thousand must not delay its record); what is left then is a leftover.
    """
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            sys.setrecursionlimit(10_000)
            for folder in folders:
                try:
                    entries = os.listdir(folder)
                except OSError:
                    continue
                for entry in entries:
                    _remove_tree(os.path.join(folder, entry))
        except BaseException:
            code = 1
        os._exit(code)
    deadline = time.monotonic() + timeout_s
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return
        time.sleep(0.01)


IPC_TABLES = ("/proc/sysvipc/shm", "/proc/sysvipc/msg", "/proc/sysvipc/sem")
MQUEUE_DIR = "/dev/mqueue"


def leftovers() -> list[str]:
    """What a program left in the container that the next one could meet, once swept.

    Processes the sweep did not end (any but init and this wrapper), files in the writable
    folders (clear_scratch could not remove them), System V IPC
    objects and POSIX message queues (they live in the container's IPC namespace, not in a
    process), and TCP ports outside the ephemeral range still held (ports_held). Empty when
    nothing is left; a host whose run left anything is not used again.
    """
    found = []
    others = [
        name for name in os.listdir("/proc") if name.isdigit() and int(name) not in (1, os.getpid())
    ]
    if others:
        found.append(f"processes left: {len(others)}")
    for folder in SCRATCH_DIRS:
        with contextlib.suppress(OSError):
            if os.listdir(folder):
                found.append(f"files in {folder}")
    for table in IPC_TABLES:
        with contextlib.suppress(OSError), open(table) as lines:
            if len(lines.readlines()) > 1:  # a header, then one line per object
                found.append(f"System V IPC objects ({os.path.basename(table)})")
    with contextlib.suppress(OSError):
        if os.listdir(MQUEUE_DIR):
            found.append("POSIX message queues")
    held = ports_held()
    if held is None:
        found.append("TCP ports not readable")
    elif held:
        found.append("TCP ports held: " + ", ".join(map(str, held)))
    return found


DRAIN_AFTER_EXIT_S = 2.0
"""After the program exits, how long its pipes may still be read (then the record is due)."""


class Stream:
    """One output stream: its first and last `keep_bytes // 2` bytes, total size and hash."""

    def __init__(self, keep_bytes: int) -> None:
        self.half = max(1, keep_bytes // 2)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.digest = hashlib.sha256()

    def add(self, data: bytes) -> None:
        self.total += len(data)
        self.digest.update(data)
        room = self.half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            del self.tail[: max(0, len(self.tail) - self.half)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "head": base64.b64encode(bytes(self.head)).decode(),
            "tail": base64.b64encode(bytes(self.tail)).decode(),
            "total": self.total,
            "sha256": self.digest.hexdigest(),
        }


def main(zygote: int | None = None) -> None:
    """`zygote`: the socket descriptor of a student_zygote.py (beside this file) to start
    the program by, when it can; else (and by default) it is exec'd."""
    import probe_options  # type: ignore[import-not-found]  # beside this file

    options = probe_options.read(sys.argv[1])
    CGROUP_COUNTERS[0] = bool(options.get("cgroup", True))
    stdin_path = options.get("stdin")
    with open(stdin_path, "rb") if stdin_path else open(os.devnull, "rb") as stdin:
        run(options, stdin, zygote)


def started_by_zygote(zygote: int, options: dict[str, Any], stdin: Any) -> Any:
    """The program started by the student zygote, in Popen's shape; None when the zygote
    cannot start it as an exec would, or has ended (it started nothing then). Raises OSError
    when its setup failed, and when the zygote may have started it but did not say."""
    import student_zygote  # type: ignore[import-not-found]  # beside this file

    user = options.get("user")
    with contextlib.suppress(student_zygote.ZygoteUnreachable):
        return student_zygote.start(
            zygote,
            [str(part) for part in options["argv"]],
            dict(os.environ),
            options.get("cwd"),
            [int(user[0]), int(user[1])] if user else None,
            {str(k): int(v) for k, v in (options.get("rlimits") or {}).items()},
            stdin.fileno(),
        )
    return None


def with_limits(rlimits: dict[str, int]) -> Callable[[], None]:
    """What the child does before exec when it keeps this wrapper's user: set `rlimits`."""

    def limit() -> None:
        set_rlimits(rlimits)

    return limit


def set_rlimits(rlimits: dict[str, int]) -> None:
    import resource

    for name, value in rlimits.items():
        resource.setrlimit(getattr(resource, name), (int(value), int(value)))


def as_user(
    uid: int, gid: int, cwd: str | None, rlimits: dict[str, int] | None = None
) -> Callable[[], None]:
    """What the child does before exec: yield to this wrapper, become `uid`, enter `cwd`.

    Runs in the forked child, still as root: /proc/self/oom_score_adj is writable by root only
    until the uid changes, and raising it needs no privilege. With 1000 the kernel's OOM killer
    picks the student's program before this wrapper when the container runs out of memory.
    Nice 19 does the same for CPU: the container's CPU quota is shared by everything in it, and
    a program that starts dozens of busy processes would otherwise leave this wrapper too
    little time to stop them and print the record when the grader says time is up (other
    containers are not affected: the quota is per container). `cwd` is entered as the new
    user, who may be the only one allowed in. No new privileges (prctl(2)): a set-user-ID
    program (su, mount) cannot give the program back what the uid change took, as Docker's
    no-new-privileges ensures in a container; the local backend has only this.
    """
    import ctypes  # before the fork: nothing is imported in the forked child

    libc = ctypes.CDLL(None, use_errno=True)

    def become_user() -> None:
        with open("/proc/self/oom_score_adj", "w") as adj:
            adj.write("1000")
        os.nice(19)
        os.setgroups([])
        os.setgid(gid)
        if rlimits:  # before the uid changes: RLIMIT_NPROC then holds for the new user too
            set_rlimits(rlimits)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        os.setuid(uid)  # from uid 0 this also clears the permitted and effective capabilities
        if cwd is not None:
            os.chdir(cwd)

    return become_user


class ListenWatch:
    """The `listen` option: looks for the program's socket at most every `interval_s`."""

    def __init__(self, options: dict[str, Any], started: float) -> None:
        # Beside this file, in the same volume: run as a script, its folder is on sys.path.
        import listen_watch  # type: ignore[import-not-found]

        self.listeners = listen_watch.listeners
        self.session_inodes = listen_watch.session_socket_inodes
        self.owned = bool(options.get("owned"))
        self.uid = options.get("uid")
        """With `owned`: the sockets of this uid are the program's (a uid of its own), read
        from /proc/net itself; else those its session holds, read from /proc/PID/fd, which
        a root without CAP_SYS_PTRACE (a container's) cannot read for another user."""
        self.session: int | None = None
        """The program's session id (its pid), once started: whose sockets count when owned."""
        self.protocol = str(options["protocol"])
        self.started = started
        self.deadline = started + float(options["timeout_s"])
        self.interval_s = float(options.get("interval_s", 0.02))
        self.open = True
        self.last = 0.0

    def look(self, *, program_exited: bool) -> None:
        """Prints the LISTEN line once: a socket found, the program gone or the time up."""
        now = time.monotonic()
        if not self.open or (now - self.last < self.interval_s and not program_exited):
            return
        self.last = now
        if self.owned and self.uid is not None:
            found = self.listeners(self.protocol, None, int(self.uid))
        else:
            inodes = self.session_inodes(self.session) if self.owned and self.session else None
            found = self.listeners(self.protocol, inodes)
        if found or program_exited or now >= self.deadline:
            self.open = False
            report = {
                "listeners": found,
                "waited_s": round(now - self.started, 3),
                "program_exited": program_exited,
            }
            sys.stdout.write("LISTEN " + json.dumps(report) + "\n")
            sys.stdout.flush()


def has_exited(child: Any) -> bool:
    """Whether the program has exited, without reaping it (Popen reaps it later); one the
    student zygote started is reaped by the zygote, which says so."""
    if not isinstance(child, subprocess.Popen):
        return child.poll() is not None
    try:
        return os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # already reaped
        return True


QUIET_LOOKS = 3
"""A stop signal is passed on once the program is seen quiet (no thread running or runnable)
this many times in a row, QUIET_INTERVAL_S apart, or QUIET_MAX_S after it came."""
QUIET_INTERVAL_S = 0.01
QUIET_MAX_S = 2.0


def threads_running(pids: list[int]) -> bool:
    """Whether any thread of `pids` is running or waiting for a CPU (state R in /proc)."""
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:  # gone
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/stat", "rb") as stat:
                    line = stat.read()
            except OSError:
                continue
            # The state follows the command name, which is in parentheses and may hold any byte.
            if line[line.rfind(b")") + 2 : line.rfind(b")") + 3] == b"R":
                return True
    return False


class StopSignals:
    """SIGTERM and SIGINT from the grader, passed on to the program once it is quiet.

    The grader stops a server once its own client is done, and the server may still be
    reacting to that client: a crash whose traceback is not yet printed (a `with` block closes
    the connection before Python prints it), a last line of its log. Passed on at once, the
    signal would cut what the check is about off the record. A server waiting in accept() or
    recv() is quiet at the first looks; one that computes or prints without end gets the
    signal quiet_max_s (QUIET_MAX_S unless the options say) after it came. The main loop
    looks (look()) while it keeps draining the pipes.

    With `grace_s`, a program still running grace_s after the signal was passed on is due
    to be killed (overdue()): the grader's exit_s, counted from when the program got it.
    """

    def __init__(
        self, pids: Callable[[], list[int]], grace_s: float | None, quiet_max_s: float
    ) -> None:
        self.pids = pids
        self.grace_s = grace_s
        self.quiet_max_s = quiet_max_s
        self.waiting: list[int] = []
        self.pass_by = 0.0
        self.quiet = 0
        self.passed_at: float | None = None
        self.after_exit = False
        self.while_running = False

    def came(self, signum: int) -> None:
        """Called from the signal handler: only notes the signal."""
        if not self.waiting:
            self.pass_by = time.monotonic() + self.quiet_max_s
            self.quiet = 0
        self.waiting.append(signum)

    def look(self, child: subprocess.Popen[bytes], ended: bool, printed: bool = False) -> None:
        """Passes the waiting signals on when the program is quiet or time is up.

        `ended`: the grader or the lifetime has killed the program, and the signals are moot.
        `printed`: output came since the last look. A program blocked writing to a full pipe
        sleeps, but it is not quiet: it is still printing.
        """
        if not self.waiting:
            return
        exited = has_exited(child)
        if not (exited or ended):
            busy = printed or threads_running(self.pids())
            self.quiet = 0 if busy else self.quiet + 1
            if self.quiet < QUIET_LOOKS and time.monotonic() < self.pass_by:
                return
        signals, self.waiting = self.waiting, []
        if ended:
            return
        self.after_exit = self.after_exit or exited
        self.while_running = self.while_running or not exited
        if not exited and self.passed_at is None:
            self.passed_at = time.monotonic()
        for signum in signals:
            child.send_signal(signum)

    def overdue(self) -> bool:
        """Whether the program has had its grace_s since the signal was passed on."""
        return (
            self.grace_s is not None
            and self.passed_at is not None
            and time.monotonic() > self.passed_at + self.grace_s
        )

    def wait_s(self, otherwise: float) -> float:
        """How long the main loop may wait for output before it must look again."""
        if self.waiting:
            return QUIET_INTERVAL_S
        if self.passed_at is not None and self.grace_s is not None:
            return min(otherwise, 0.05)
        return otherwise


class Commands:
    """A host-mode wrapper's stdin: the grader's commands, a line each (COMMANDS).

    Read when they come, as signals are: the kernel sends SIGIO when stdin has data or ends
    (O_ASYNC), and the handler acts at once, whatever the wrapper is doing then (a program
    that forks without end can leave the main loop little time to run).
    """

    def __init__(self, act: Callable[[int, Any], None]) -> None:
        self.act = act
        self.pending = b""
        self.open = True
        self.fd = -1

    def listen(self, fd: int) -> None:
        """Acts on what `fd` brings from now on, and on what it already holds."""
        import fcntl

        self.fd = fd
        os.set_blocking(fd, False)
        signal.signal(signal.SIGIO, lambda signum, frame: self.drain())
        fcntl.fcntl(fd, fcntl.F_SETOWN, os.getpid())
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_ASYNC)
        self.drain()

    def drain(self) -> None:
        """Reads and acts on everything stdin holds now.

        SIGIO is blocked meanwhile: a nested handler between a read and its `take` could
        split or reorder the lines. One that came is handled once it is unblocked.
        """
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGIO})
        try:
            while self.open:
                try:
                    data = os.read(self.fd, 1 << 10)
                except BlockingIOError:
                    return
                except OSError:
                    data = b""
                self.take(data)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def take(self, data: bytes) -> bool:
        """Acts on the complete lines in `data`; False at the end of stdin (acted on too)."""
        if not data:
            self.open = False
            self.act(signal.SIGUSR2, None)  # the grader is gone: time is up
            return False
        self.pending += data
        *lines, self.pending = self.pending.split(b"\n")
        self.pending = self.pending[-64:]
        for line in lines:
            signum = COMMANDS.get(line.strip().decode("ascii", "replace"))
            if signum is not None:
                self.act(signum, None)
        return True


def sweep_allowed(options: dict[str, Any]) -> bool:
    """Whether kill(-1) would reach only this container's processes.

    Only inside the container's own PID namespace, where this wrapper is init or init's child,
    or (host mode) was started by `docker exec`, whose parent is outside the namespace (pid 0
    here); never when run as a plain program on a host, where kill(-1) as root would hit
    everything.
    """
    if not options.get("sweep"):
        return False
    if options.get("host"):
        return os.getppid() == 0
    return os.getpid() == 1 or os.getppid() == 1


PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38


def become_subreaper() -> None:
    """Makes this process the one orphans of its descendants are given to (prctl(2)).

    In host mode the container's init is an idle `sleep` that reaps nothing: the program's
    orphans come here instead and are reaped here (reap_others, reap_all).
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def reap_others(keep: int) -> None:
    """Reaps exited children other than `keep`, while `keep` has not exited (no waiting)."""
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None or info.si_pid == keep:
            return  # none exited, or the program itself: Popen reaps it
        try:
            os.waitpid(info.si_pid, os.WNOHANG)
        except ChildProcessError:
            return


def reap_all() -> None:
    """Reaps every exited child (once the program itself has been waited for)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_all_others() -> bool:
    """SIGKILLs every process of the namespace but init and this one; False if none was left."""
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def kill_all_others_until_gone(timeout_s: float = SWEEP_TIMEOUT_S, *, reap: bool = False) -> None:
    """Repeats kill_all_others until no other process is left, for at most `timeout_s`.

    A process already sent SIGKILL cannot fork any more, so this ends; a zombie still counts
    until init reaps it, which it does at once, or (`reap`: this wrapper is the subreaper)
    until this wrapper does.
    """
    deadline = time.monotonic() + timeout_s
    while kill_all_others() and time.monotonic() < deadline:
        if reap:
            reap_all()
        time.sleep(0.01)
    if reap:
        reap_all()


def run(options: dict[str, Any], stdin: Any, zygote: int | None = None) -> None:
    # The grader may signal before the program is even started (a peer that was done at once,
    # a machine slow to start this wrapper): noted here and acted on once the program runs, so
    # no signal ends this wrapper without its record.
    early: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR2):
        signal.signal(signum, lambda signum, frame: early.append(signum))
    started = time.monotonic()
    lifetime_s = float(options.get("lifetime_s", LIFETIME_S))
    host = bool(options.get("host"))
    user = options.get("user")
    sweep = sweep_allowed(options)
    if host and sweep:
        become_subreaper()
        kill_all_others_until_gone(reap=True)  # nothing of an earlier run may be left
        if user:
            clear_scratch(int(user[0]), int(user[1]))
        started = time.monotonic()  # the program's time starts with the program
    refusals_before = process_limit_refusals()
    ooms_before = oom_kills()
    baseline = processes_now()  # Docker's init and this wrapper
    peak = 0

    def sample_processes() -> None:
        nonlocal peak
        now = processes_now()
        if now is not None and baseline is not None:
            peak = max(peak, now - baseline)

    # Everything the loop below needs is imported before the program starts: a program that
    # forks without end leaves this wrapper little CPU and memory, and an import then could
    # take seconds before the first look.
    watch = ListenWatch(options["listen"], started) if options.get("listen") else None
    try:
        child = started_by_zygote(zygote, options, stdin) if zygote is not None else None
        child = child or subprocess.Popen(
            options["argv"],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # Its own session and process group: a signal for "everything it started" reaches
            # its children too, and never this wrapper.
            start_new_session=True,
            cwd=None if user else options.get("cwd"),
            preexec_fn=(
                as_user(int(user[0]), int(user[1]), options.get("cwd"), options.get("rlimits"))
                if user
                else with_limits(options.get("rlimits") or {})
            ),
        )
    # SubprocessError: preexec_fn failed; OSError: also the zygote's child's setup
    except (OSError, subprocess.SubprocessError) as e:
        error = {"error": f"{type(e).__name__}: {e}", "argv": options["argv"]}
        sys.stdout.write("WRAPPER-ERROR " + json.dumps(error) + "\n")
        sys.stdout.flush()
        sys.exit(70)
    if watch is not None:
        watch.session = child.pid  # start_new_session: the program leads its own session
    ended_by: str | None = None

    def kill_program() -> None:
        if sweep:
            kill_all_others()  # also what left its session; the full sweep comes at the end
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            child.kill()

    def program_pids() -> list[int]:
        if not sweep:  # not in a namespace of its own: only the program's first process
            return [child.pid]
        wrapper = {os.getpid(), os.getppid(), 1}
        return [int(name) for name in os.listdir("/proc") if name.isdigit()
                and int(name) not in wrapper]  # fmt: skip

    grace = options.get("stop_grace_s")
    stops = StopSignals(
        program_pids,
        float(grace) if grace is not None else None,
        float(options.get("stop_quiet_max_s", QUIET_MAX_S)),
    )

    def forward(signum: int, frame: Any) -> None:
        nonlocal ended_by
        if signum == signal.SIGUSR2:
            ended_by = ended_by or "grader"
            kill_program()
        elif signum == signal.SIGALRM:
            ended_by = ended_by or "lifetime"
            kill_program()
        else:
            stops.came(signum)

    # A signal wakes the loop below at once (select would otherwise resume its wait).
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGUSR2, forward)
    signal.signal(signal.SIGALRM, forward)
    while early:
        forward(early.pop(0), None)
    # A timer, not a check in the loop below: the lifetime holds in every phase, also while
    # waiting for a program that closed its pipes and never exits.
    signal.setitimer(signal.ITIMER_REAL, max(0.001, lifetime_s))

    def look_after_signals(printed: bool = False) -> None:
        nonlocal ended_by
        stops.look(child, ended_by is not None, printed)
        if stops.overdue() and ended_by is None and child.poll() is None:
            ended_by = "grader"  # not stopped within exit_s of the grader's SIGTERM
            kill_program()

    streams = {"stdout": Stream(options["keep_bytes"]), "stderr": Stream(options["keep_bytes"])}
    selector = selectors.DefaultSelector()
    assert child.stdout is not None and child.stderr is not None
    selector.register(child.stdout, selectors.EVENT_READ, streams["stdout"])
    selector.register(child.stderr, selectors.EVENT_READ, streams["stderr"])
    selector.register(wake_read, selectors.EVENT_READ, None)
    if host and sweep:
        # An orphan's exit wakes the loop, which reaps it (reap_others) as Docker's init would
        # at once: zombies must not count against the program's pids limit.
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    commands = Commands(forward) if host else None
    if commands is not None:
        commands.listen(sys.stdin.fileno())
    exited_at: float | None = None

    while len(selector.get_map()) > 1:  # a stream is still open
        idle_s = watch.interval_s if watch and watch.open else 0.5
        events = selector.select(timeout=stops.wait_s(idle_s))
        printed = False
        for key, _ in events:
            data = os.read(key.fd, 1 << 16)
            if key.data is None:
                continue  # a signal came: look_after_signals() below
            if data:
                key.data.add(data)
                printed = True
            else:
                selector.unregister(key.fileobj)
        look_after_signals(printed)
        if host and sweep:
            reap_others(child.pid)
        sample_processes()
        if watch is not None:
            watch.look(program_exited=child.poll() is not None)
        if exited_at is None and child.poll() is not None:
            exited_at = time.monotonic()
            signal.setitimer(signal.ITIMER_REAL, 0)  # it ended on its own, whatever comes next
            # The program is done: whatever it left behind (a child in its group, or one that
            # left the group with setsid) is killed now, so the pipes close and nothing of it
            # outlives the record.
            kill_program()
        if exited_at is not None and time.monotonic() - exited_at > DRAIN_AFTER_EXIT_S:
            break  # a process out of reach still holds a pipe: the record cannot wait for it
    # Both pipes closed, and the program may still run: signals are still passed on.
    while child.poll() is None:
        look_after_signals()
        if host and sweep:
            reap_others(child.pid)
        time.sleep(stops.wait_s(0.05))
    status = child.wait()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # clear_scratch waits for its own child
    # A signal still held when the program ended (its pipes closed as it exited, between two
    # looks) came after its exit.
    stops.look(child, ended_by is not None)
    signal.setitimer(signal.ITIMER_REAL, 0)
    if watch is not None:
        watch.look(program_exited=True)
    if sweep:
        kill_all_others_until_gone(reap=host)
    left: list[str] = []
    if host and sweep and user:
        clear_scratch(int(user[0]), int(user[1]))
        left = leftovers()
    elif host:
        # Not started by `docker exec` into the namespace (sweep_allowed): nothing of this run
        # was swept or cleared, so its host must not take another.
        left = ["not swept: the wrapper cannot reach every process of its container"]
    refusals_after = process_limit_refusals()
    ooms_after = oom_kills()
    record = {
        "elapsed_s": round((exited_at or time.monotonic()) - started, 3),
        "status": status if status >= 0 else 128 - status,
        "signal": -status if status < 0 else None,
        "killed_by_grader": ended_by == "grader",
        "stop_signal_after_exit": stops.after_exit,
        "stop_signal_while_running": stops.while_running,
        "stop_signal_s": (
            round(stops.passed_at - started, 3) if stops.passed_at is not None else None
        ),
        "lifetime_expired": ended_by == "lifetime",
        "lifetime_s": lifetime_s,
        "process_limit_hits": (
            refusals_after - refusals_before
            if refusals_before is not None and refusals_after is not None
            else None
        ),
        "oom_kills": (
            ooms_after - ooms_before if ooms_before is not None and ooms_after is not None else None
        ),
        "peak_processes": peak if baseline is not None else None,
        **({"ports_held": ports_held(), "leftovers": left} if host else {}),
        **{name: stream.as_dict() for name, stream in streams.items()},
    }
    sys.stdout.write("RUN " + json.dumps(record) + "\n")
    sys.stdout.flush()
    sys.exit(0)


if __name__ == "__main__":
    main()
