"""Names the common reasons a student's program failed, each in one teaching sentence."""

from __future__ import annotations

from grader.checks.base import Verdict
from grader.scenarios.model import ListenObservation, ProgramRun, ServerPeerReport
from grader.spec.model import LabSpec

STDERR_TAIL_LINES = 6


def shown(data: bytes, limit: int = 200) -> str:
    """Bytes as a student should read them: Python's repr, cut in the middle if long."""
    if len(data) <= limit:
        return repr(data)
    half = limit // 2
    return f"{data[:half]!r} ... ({len(data) - limit} bytes not shown) ... {data[-half:]!r}"


def size_text(count: int) -> str:
    """A byte count as a person says it: "12 bytes", "600 KiB", "8 MiB", "1.5 MiB"."""
    if count < 1024:
        return f"{count} byte" + ("" if count == 1 else "s")
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            value = count / scale
            return (
                f"{value:.0f} {unit}"
                if value >= 10 or value.is_integer()
                else f"{value:.1f} {unit}"
            )
    return f"{count} bytes"  # unreachable: 1024 and more is KiB


def rate_text(count: int, seconds: float) -> str:
    """A transfer rate such as "20 KiB/s"."""
    if seconds <= 0:
        return "-"
    return size_text(round(count / seconds)) + "/s"


def elided(items: list[str], keep: int = 12) -> str:
    """Items joined with ", ", the middle left out when there are more than `keep`."""
    if len(items) <= keep:
        return ", ".join(items)
    half = keep // 2
    hidden = len(items) - 2 * half
    return ", ".join([*items[:half], f"... ({hidden} more) ...", *items[-half:]])


def stderr_tail(run: ProgramRun) -> tuple[str, ...]:
    note = (
        (f"({run.file} printed more than the grader keeps, so the middle of its output was cut)",)
        if run.output_cut
        else ()
    )
    lines = [line for line in run.stderr_text.splitlines() if line.strip()]
    if not lines:
        return note
    tail = [shorten(line) for line in lines[-STDERR_TAIL_LINES:]]
    return (*note, f"last lines of {run.file}'s stderr:", *(f"  {line}" for line in tail))


def shorten(line: str, limit: int = 160) -> str:
    return line if len(line) <= limit else f"{line[:limit]}… ({len(line) - limit} more characters)"


def has_traceback(run: ProgramRun) -> bool:
    return "Traceback (most recent call last)" in run.stderr_text


def last_error_line(run: ProgramRun) -> str | None:
    lines = [line.strip() for line in run.stderr_text.splitlines() if line.strip()]
    return lines[-1] if lines else None


def program_problem(run: ProgramRun, lab: LabSpec) -> Verdict | None:
    """A failing verdict when the program could not do its work at all, else None."""
    if run.missing and run.left_out:
        return Verdict(
            passed=False,
            summary=f"{run.file} was left out of the copy of your submission that the grader"
            f" runs: {run.left_out}",
            expected=f"{run.file} as a regular file at the top level of your submission",
            received=f"{run.file} left out: {run.left_out}",
            cause="The grader runs only its copy of your submission, which holds regular files"
            " within size limits: submit the file itself, and keep links and data out.",
        )
    if run.missing:
        return Verdict(
            passed=False,
            summary=f"{run.file} not found in the submission",
            cause=f"Put {run.file} at the top level of your submission, next to the others.",
        )
    # The container's own counts (forks refused at the limit, the most processes at once), not
    # the words on stderr: EAGAIN from a non-blocking socket reads the same ("Resource
    # temporarily unavailable"). Before memory, because every process it started holds memory
    # too: a fork loop often ends killed for memory, and the processes are the cause.
    many = lab.limits.pids // 2
    if run.process_limit_hit or (run.oom_killed and (run.peak_processes or 0) > many):
        memory = (
            f", and was killed when they used more than {lab.limits.memory_mb} MB of memory"
            if run.oom_killed
            else ""
        )
        started = (
            f"hit the limit of {lab.limits.pids} processes and threads"
            if run.process_limit_hit
            else f"started processes or threads without end (more than {many} at once)"
        )
        return Verdict(
            passed=False,
            summary=f"{run.file} {started}{memory}",
            cause="A loop that starts a process or thread per step never ends; start a bounded"
            " number.",
            details=stderr_tail(run),
        )
    if run.oom_killed:
        return Verdict(
            passed=False,
            summary=f"{run.file} was killed: it used more than {lab.limits.memory_mb} MB of memory",
            cause="Read and send in chunks instead of holding everything in memory at once.",
            details=stderr_tail(run),
        )
    if run.exit_code not in (None, 0) and has_traceback(run):
        error = last_error_line(run) or ""
        cause = "Python stopped at the error shown below; fix it and run the file by hand."
        if error.startswith("ConnectionResetError"):
            cause = (
                "The other side reset the connection (RST) instead of closing it in an orderly"
                " way: see the check on how the server closes."
            )
        return Verdict(
            passed=False,
            summary=f"{run.file} crashed with exit status {run.exit_code}: {error}",
            cause=cause,
            details=stderr_tail(run),
        )
    return None


def unreachable(listen: ListenObservation | None, run: ProgramRun, lab: LabSpec) -> Verdict | None:
    """For checks that need a connection: a short failing verdict if there can be none."""
    problem = listen_problem(listen, run, lab)
    if problem is None:
        return None
    return Verdict(
        passed=False,
        summary=f"not checked, because {problem.summary}",
        cause="Fix that first (see the listening check); this check needs a connection.",
    )


def listen_problem(
    listen: ListenObservation | None, run: ProgramRun, lab: LabSpec
) -> Verdict | None:
    """A failing verdict when the server cannot be reached on SERVER_PORT, else None."""
    problem = program_problem(run, lab)
    if problem is not None:
        return problem
    port = listen.expected_port if listen else None
    if listen is None or not listen.listeners:
        ended = (
            f"{run.file} exited with status {run.exit_code} before it listened"
            if run.exit_code is not None
            else f"nothing listened within {lab.timeouts.start_s:g} s"
        )
        return Verdict(
            passed=False,
            summary=ended,
            expected=(
                f"a UDP socket bound to port {port}"
                if listen and listen.protocol == "udp"
                else f"a TCP socket in LISTEN state on port {port}"
            ),
            received="no such socket",
            cause=(
                "Bind the UDP socket with sock.bind(('0.0.0.0', port)) before recvfrom()."
                if listen and listen.protocol == "udp"
                else "Call bind() and then listen() on the socket before accept()."
            ),
            details=stderr_tail(run),
        )
    if listen.reachable:
        return None
    sentences = []
    on_port = listen.on_expected_port
    seen = ", ".join(f"{lst.address}:{lst.port}" for lst in listen.listeners)
    if not on_port:
        other = listen.listeners[0].port
        sentences.append(
            f"The server listens on port {other}, but SERVER_PORT was {port}: read the port"
            " with int(os.environ.get('SERVER_PORT', ...)) instead of hard-coding it."
        )
    if all(lst.loopback_only for lst in listen.listeners):
        sentences.append(
            "It is bound to 127.0.0.1 (localhost) only, so other containers cannot reach it:"
            " bind to '0.0.0.0' (all interfaces) instead."
        )
    return Verdict(
        passed=False,
        summary="the server cannot be reached from the lab network on SERVER_PORT",
        expected=f"listening on 0.0.0.0:{port} (all interfaces)",
        received=f"listening on {seen}",
        cause=" ".join(sentences),
    )


def client_problem(
    run: ProgramRun, peer: ServerPeerReport | None, server_port: int, lab: LabSpec
) -> Verdict | None:
    """A failing verdict when the client never reached the reference server, else None."""
    if run.missing or run.oom_killed:
        return program_problem(run, lab)
    if peer is not None and not peer.accepted:
        wrong_ports = sorted(set(peer.syn_ports) - {server_port})
        if wrong_ports:
            return Verdict(
                passed=False,
                summary="the client connected to the wrong port",
                expected=f"a connection to SERVER_HOST on port {server_port}",
                received=f"connection attempts on port {', '.join(map(str, wrong_ports))}",
                cause="Read the port with int(os.environ.get('SERVER_PORT', ...)) instead of"
                " hard-coding it.",
                details=stderr_tail(run),
            )
        return Verdict(
            passed=False,
            summary="the client never reached the server",
            expected="a connection to the host named in SERVER_HOST",
            received="no connection attempt arrived there",
            cause="The client probably connects to localhost or a hard-coded host: read the host"
            " with os.environ.get('SERVER_HOST', 'localhost').",
            details=stderr_tail(run),
        )
    problem = program_problem(run, lab)
    if problem is not None:
        return problem
    return None


def still_running(run: ProgramRun, lab: LabSpec) -> Verdict:
    return Verdict(
        passed=False,
        summary=f"{run.file} was still running after {lab.timeouts.run_s:g} s and was stopped",
        cause="The program waits for something that never comes: read until recv() returns b''"
        " (the other side closed), then finish.",
        details=stderr_tail(run),
    )


def stdout_lines(run: ProgramRun) -> list[str]:
    return [line.rstrip("\r") for line in run.stdout_text.split("\n")]


def missing_line(run: ProgramRun, line: str, lab: LabSpec) -> Verdict | None:
    """A failing verdict when `line` is not one of the program's output lines, else None."""
    lines = stdout_lines(run)
    if line in lines:
        return None
    if run.timed_out and not run.stdout.strip():
        return still_running(run, lab)
    if run.output_cut:
        return Verdict(
            passed=False,
            summary=f"{run.file} printed more than the grader keeps ({lab.limits.output_kb} KB)",
            expected=repr(line),
            received=shown(run.stdout) if run.stdout.strip() else "nothing left on stdout",
            cause="A flood of output pushes earlier lines out of the log: print only what the"
            " README asks for.",
        )
    near = [seen for seen in lines if seen.strip()]
    received = shown(run.stdout) if near else "nothing on stdout"
    cause = "Print exactly the line the lab's README gives."
    prefix = line.split(":")[0]
    partial = [seen for seen in near if seen.startswith(prefix) and line.startswith(seen)]
    if partial:
        cause = (
            "TCP is a byte stream: one recv() returned only part of the data. Call recv() in a"
            " loop until it returns b'' (the server closed), then print everything."
        )
    elif any(seen.startswith(prefix) for seen in near):
        cause = "The line is there but its content differs: print the bytes received decoded"
        cause += " as text, e.g. data.decode(), not repr(data) or str(data)."
    return Verdict(
        passed=False,
        summary="the expected line is not in the program's output",
        expected=repr(line),
        received=received,
        cause=cause,
        details=stderr_tail(run),
    )
