"""Names the common reasons a student's program failed, each in one teaching sentence."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from grader.checks.base import Verdict
from grader.checks.listening import ipv6_only_problem
from grader.sandbox.layout import listed
from grader.scenarios.model import ListenObservation, ProgramRun, Reuse, ServerPeerReport
from grader.spec.model import LabSpec

STDERR_TAIL_LINES = 6


def shown(data: bytes, limit: int = 200) -> str:
    """Bytes as a student should read them: Python's repr, cut in the middle if long."""
    if len(data) <= limit:
        return repr(data)
    half = limit // 2
    return f"{data[:half]!r} ... ({bytes_text(len(data) - limit)} not shown) ... {data[-half:]!r}"


def bytes_text(count: int) -> str:
    """An exact byte count: "1 byte", "12 bytes", "1048581 bytes"."""
    return f"{count} byte" + ("" if count == 1 else "s")


def size_text(count: int) -> str:
    """A byte count as a person says it: "12 bytes", "600 KiB", "8 MiB", "1.5 MiB"."""
    if count < 1024:
        return bytes_text(count)
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


TRACEBACK = "Traceback (most recent call last)"
# What Python prints instead of a traceback when it cannot compile the file it was asked to run:
# `  File "...", line N`, the line, a caret, then this (an encoding error gives the last line only).
COMPILE_ERROR = re.compile(r"^(SyntaxError|IndentationError|TabError)(:|$)")
PYTHON_MESSAGE_LINES = 8
UNCAUGHT_EXCEPTION_STATUS = 1
# A crash that shows the program could not connect: the place it connected to is the cause.
CONNECT_ERROR = re.compile(
    r"^(ConnectionRefusedError|socket\.gaierror|TimeoutError|socket\.timeout"
    r"|OSError: \[Errno (101|110|111|113)\])"
)


def has_traceback(run: ProgramRun) -> bool:
    return TRACEBACK in run.stderr_text


def last_error_line(run: ProgramRun) -> str | None:
    crash = crash_of(run)
    if crash is not None:
        return crash.error
    lines = [line.strip() for line in run.stderr_text.splitlines() if line.strip()]
    return lines[-1] if lines else None


@dataclass(frozen=True)
class Crash:
    """An uncaught exception as Python printed it on stderr (the last traceback there)."""

    error: str
    """The exception line, e.g. "OSError: [Errno 99] Cannot assign requested address"."""
    code: str
    """The source line of the innermost frame shown, stripped; "" when Python showed none."""
    where: str
    """The innermost `File "...", line N, in f` line, stripped; "" when there is none."""

    @property
    def exception(self) -> str:
        """The exception's name as printed ("BlockingIOError", "socket.gaierror")."""
        return self.error.split(":", 1)[0].strip()

    @property
    def while_connecting(self) -> bool:
        """Whether it is the error of a connection that could not be made."""
        return bool(CONNECT_ERROR.match(self.error))


def crash_of(run: ProgramRun) -> Crash | None:
    """The last traceback on the program's stderr, or None when there is none.

    Also a traceback of a thread that died while the program went on ("Exception in thread").
    The exception line is the first line after the frames that is not indented; the caret
    lines Python 3.11 adds under the code are skipped.
    """
    text = run.stderr_text
    at = text.rfind(TRACEBACK)
    if at < 0:
        return None
    where = code = ""
    for line in text[at:].splitlines()[1:]:
        stripped = line.strip()
        if not stripped or set(stripped) <= set("^~"):
            continue
        if line.startswith("  File "):
            where, code = stripped, ""
        elif line.startswith("    "):
            code = code or stripped
        else:
            return Crash(error=shorten(stripped), code=shorten(code), where=shorten(where))
    return None


def died_of_crash(run: ProgramRun) -> Crash | None:
    """The crash that ended the program, or None.

    Python ends a program with status 1 when an exception escapes; a traceback the program
    printed itself and survived (say with traceback.print_exc()) before it was stopped by a
    signal (128 + n) or ended by sys.exit(n) is not what ended it.
    """
    if run.exit_code != UNCAUGHT_EXCEPTION_STATUS:
        return None
    return crash_of(run)


def thread_crash(run: ProgramRun) -> Crash | None:
    """The crash of one of the program's threads, which Python reports and goes on, or None."""
    text = run.stderr_text
    at = text.rfind(TRACEBACK)
    before = text[:at].rstrip().splitlines() if at > 0 else []
    if not before or not before[-1].startswith("Exception in thread"):
        return None
    return crash_of(run)


def crash_first(verdict: Verdict, observation: object, lab: LabSpec) -> Verdict:
    """A check's `verdict` with the crash of the observed server, else client, as its cause.

    Applied to every check's verdict: when the program's stderr shows the crash that ended it
    (or one of its threads), that is the likely cause of a failure, whatever the check saw.
    """
    for role in ("server", "client"):
        run = getattr(observation, role, None)
        if isinstance(run, ProgramRun):
            judged = with_crash_cause(verdict, run, lab)
            if judged is not verdict:
                return judged
    return verdict


def with_reuse_note(verdict: Verdict, observation: object) -> Verdict:
    """`verdict` with a last detail line saying its observation came from an earlier run.

    Applied to every check's verdict: a student who sees one run named for several checks
    learns why the program was started fewer times than there are checks (see Reuse).
    """
    reused = getattr(observation, "reused", None)
    if not isinstance(reused, Reuse):
        return verdict
    return replace(verdict, details=(*verdict.details, reused.note))


@dataclass(frozen=True)
class Lesson:
    """What a crash teaches: the first entry of LESSONS that matches a crash is its cause."""

    error: str
    """A regular expression searched in the exception line."""
    lesson: str
    code: str = ""
    """A regular expression searched in the source line Python showed; "" for any."""
    role: str = ""
    """"server" or "client" for a lesson about one of them only; "" for both."""
    message: str = ""
    """A regular expression for the same error in a message a program printed itself
    (`print(e)` shows strerror only: "Cannot assign requested address"); "" for none."""

    def matches(self, crash: Crash, role: str) -> bool:
        return (
            (not self.role or self.role == role)
            and re.search(self.error, crash.error) is not None
            and (not self.code or re.search(self.code, crash.code) is not None)
        )


PROCESS_LIMIT_LESSON = (
    "A process or thread could not be started: the container allows only a few, so a loop"
    " that starts one per step hits the limit; start a bounded number."
)
NON_BLOCKING_LESSON = (
    "A non-blocking socket was used as if it blocked: after setblocking(False) or settimeout(0),"
    " recv(), accept() and connect() raise BlockingIOError at once when nothing is ready yet."
    " Leave the socket blocking (remove setblocking(False)), so recv() waits for the data."
)
LESSONS: tuple[Lesson, ...] = (
    Lesson(
        r"\[Errno 99\]",
        "bind() was given an address this machine does not have: your own computer's address"
        " works at home, not in the grader's container. Bind to '0.0.0.0' (all interfaces).",
        code=r"bind",
    ),
    Lesson(
        r"\[Errno 99\]",
        "The program used an address this machine does not have: a server binds to '0.0.0.0',"
        " a client connects to the host in SERVER_HOST.",
        message=r"Cannot assign requested address",
    ),
    Lesson(r"^RuntimeError: can't start new thread", PROCESS_LIMIT_LESSON),
    Lesson(r"\[Errno 11\]", PROCESS_LIMIT_LESSON, code=r"fork|Popen|subprocess|Thread|Process"),
    Lesson(
        r"^BlockingIOError|\[Errno 11\]|\[Errno 115\]",
        NON_BLOCKING_LESSON,
        message=r"Operation now in progress|Resource temporarily unavailable",
    ),
    Lesson(
        r"^UnicodeEncodeError: .*surrogates not allowed",
        "The input was read as text (sys.stdin.read() or input()), and bytes that are not UTF-8"
        " cannot be encoded back: read bytes with sys.stdin.buffer.read() and send them as they"
        " are.",
    ),
    Lesson(
        r"^UnicodeDecodeError",
        "The input was read as text and it is not UTF-8: read bytes with sys.stdin.buffer.read()"
        " and send them as they are.",
        code=r"stdin|input\(",
    ),
    Lesson(
        r"^UnicodeDecodeError",
        "decode() failed on bytes that are not UTF-8 text: a socket carries bytes, and binary"
        " data (every byte value) is valid data. Send back exactly what recv() returned,"
        " without decoding it.",
        role="server",
    ),
    Lesson(
        r"^UnicodeDecodeError",
        "decode() failed on bytes that are not UTF-8 text: a socket carries bytes of any value."
        " Write them as bytes with sys.stdout.buffer.write(data) instead of decoding them.",
    ),
    Lesson(
        r"^UnicodeEncodeError",
        "Text was turned into bytes and a character could not be encoded: keep the data as bytes"
        " from start to end (sys.stdin.buffer, sys.stdout.buffer).",
    ),
    Lesson(
        r"^(ConnectionResetError|BrokenPipeError)",
        "A client reset the connection or went away, as the grader's clients may: catch"
        " ConnectionResetError and BrokenPipeError around one client's conversation, close that"
        " connection and go back to accept() for the next.",
        role="server",
    ),
    Lesson(
        r"^ConnectionResetError",
        "The other side reset the connection (RST) instead of closing it in an orderly way: see"
        " the check on how the server closes.",
    ),
    Lesson(
        r"^BrokenPipeError",
        "The other side had closed the connection while the program was still sending to it.",
    ),
    Lesson(
        r"\[Errno 9\]",
        "The socket was used after close() (Bad file descriptor): close() ends both directions."
        " To say you are done sending and still read the reply, call"
        " sock.shutdown(socket.SHUT_WR) instead, and close only when the reading is done.",
        role="client",
    ),
    Lesson(
        r"\[Errno 9\]",
        "A socket was used after close() (Bad file descriptor): a server that closes its"
        " listening socket (in a signal handler, say) and goes back to accept() gets this; exit"
        " (sys.exit(0)) once the socket is closed, or close it only on the way out.",
        role="server",
    ),
    Lesson(
        r"^ConnectionRefusedError",
        "A UDP socket that called connect() gets the ICMP 'port unreachable' of a host where"
        " nothing listens as ConnectionRefusedError from recv(): catch it (except OSError) and"
        " count that ping as lost, as a timeout.",
        code=r"recv",
    ),
    Lesson(
        r"^ConnectionRefusedError",
        "Nothing listened where the client connected: connect to the host in SERVER_HOST and the"
        " port in SERVER_PORT, once.",
    ),
    Lesson(
        r"^socket\.gaierror",
        "The host name could not be found: connect to the host named in SERVER_HOST"
        " (os.environ.get('SERVER_HOST', 'localhost')), not to a name of your own.",
    ),
    Lesson(
        r"^(TimeoutError|socket\.timeout)",
        "A socket timeout ran out: after settimeout(), recv() and accept() raise TimeoutError"
        " when nothing comes in time; catch it where waiting may end, or set no timeout.",
    ),
    Lesson(
        r"^OSError: \[Errno 98\]",
        "The port was already taken by another socket: bind once, and set SO_REUSEADDR before"
        " bind().",
    ),
    Lesson(
        r"^PermissionError: \[Errno 13\]",
        "Ports below 1024 need root: use the port given in SERVER_PORT.",
        code=r"bind",
    ),
    Lesson(
        r"^EOFError",
        "input() found the end of its input: the grader gives the program no keyboard, so it"
        " must not wait for a key press or for input the lab does not ask for.",
    ),
    Lesson(
        r"^(ModuleNotFoundError|ImportError)",
        "That module is not there where the grader runs the program: use Python's standard"
        " library only, and keep everything in the lab's files.",
    ),
    Lesson(
        r"^(SyntaxError|IndentationError|TabError)",
        "A file the program imports has an error at the line shown: Python compiles each module"
        " when it is imported.",
    ),
)


def message_lesson(run: ProgramRun) -> tuple[str, str] | None:
    """The last line a program that ended with an error wrote on stderr, and its lesson.

    For a program that caught an error and printed it itself (no traceback, non-zero exit),
    when that line matches a lesson's `message`; None otherwise.
    """
    if run.exit_code in (None, 0) or has_traceback(run):
        return None
    lines = [line.strip() for line in run.stderr_text.splitlines() if line.strip()]
    if not lines:
        return None
    for lesson in LESSONS:
        if lesson.message and re.search(lesson.message, lines[-1]):
            return shorten(lines[-1]), lesson.lesson
    return None


def role_of(run: ProgramRun, lab: LabSpec) -> str:
    """ "server" when `run` is the lab's server program, else "client"."""
    server = lab.services.server
    return "server" if server is not None and server.file == run.file else "client"


def crash_lesson(crash: Crash, role: str) -> str:
    """The cause of a crash in one sentence: its lesson, or where Python stopped."""
    for lesson in LESSONS:
        if lesson.matches(crash, role):
            return lesson.lesson
    where = f" ({crash.where})" if crash.where else ""
    return (
        f"An uncaught {crash.exception} ended the program at the line shown below{where}:"
        " Python's message names what went wrong there."
    )


def python_message(run: ProgramRun) -> tuple[str, ...] | None:
    """Python's own message when it could not compile the program, so ran none of it.

    A syntax, indentation or source-encoding error prints no traceback: the file, the line, a
    caret and the error (exit status 1, nothing on stdout). None when the program ran.
    The message of the interpreter that ran the program is the evidence, not compile() on the
    grader's side: the grader's Python may be another version than the runtime image's, and
    what one version accepts (PEP 701's f-strings, say) the other refuses.
    """
    if run.exit_code != UNCAUGHT_EXCEPTION_STATUS or run.stdout.strip() or has_traceback(run):
        return None
    lines = [line.rstrip() for line in run.stderr_text.splitlines() if line.strip()]
    if not lines or not COMPILE_ERROR.match(lines[-1]):
        return None
    return tuple(shorten(line) for line in lines[-PYTHON_MESSAGE_LINES:])


COMPILE_LESSONS: tuple[tuple[str, str], ...] = (
    (
        r"^SyntaxError: Non-UTF-8 code",
        "The file is not saved as UTF-8 (an editor saved it as Latin-1 or Windows-1252): save it"
        " as UTF-8, or declare its encoding in the first line, e.g. # -*- coding: latin-1 -*-.",
    ),
    (
        r"^SyntaxError: encoding problem",
        "The coding line at the top of the file names an encoding Python does not know: write"
        " # -*- coding: utf-8 -*- or remove the line.",
    ),
    (
        r"^TabError",
        "Tabs and spaces are mixed in the indentation: indent with spaces only, 4 per level"
        " (editors can turn tabs into spaces).",
    ),
    (
        r"^IndentationError",
        "The indentation does not match the blocks: the lines of one block start at the same"
        " column, and a block follows a line that ends with ':'.",
    ),
    (
        r"",
        "Python reads the whole file before it runs any of it, so one syntax error stops"
        " everything: fix the line shown (the ^ marks where Python stopped understanding it)."
        " python3 -m py_compile <file> finds such errors without running the program.",
    ),
)


def unrunnable(run: ProgramRun) -> Verdict | None:
    """A failing verdict, with Python's own message, when Python could not run the file.

    Any check that needs the program fails with it, the no-server checks too: a file that
    does not compile exits with status 1 and a message on stderr without ever trying.
    """
    message = python_message(run)
    if message is None:
        return None
    error = message[-1].strip()
    line = next((m.group(1) for text in message if (m := re.search(r", line (\d+)", text))), None)
    cause = next(lesson for pattern, lesson in COMPILE_LESSONS if re.search(pattern, error))
    return Verdict(
        passed=False,
        summary=f"Python could not run {run.file}: {error}" + (f" (line {line})" if line else ""),
        expected=f"a {run.file} that Python can compile and run",
        received="Python's error below; not one line of the program ran",
        cause=cause,
        details=(f"what Python printed for {run.file}:", *(f"  {text}" for text in message)),
    )


def crash_verdict(run: ProgramRun, lab: LabSpec, *, during: str = "") -> Verdict | None:
    """A failing verdict naming the crash that ended `run`, with its lesson, or None.

    `during` says when, e.g. " before it connected,"; "" says nothing.
    """
    crash = died_of_crash(run)
    if crash is None:
        return None
    return Verdict(
        passed=False,
        summary=f"{run.file} crashed{during} with exit status {run.exit_code}: {crash.error}",
        cause=crash_lesson(crash, role_of(run, lab)),
        details=stderr_tail(run),
    )


def with_crash_cause(verdict: Verdict, run: ProgramRun | None, lab: LabSpec) -> Verdict:
    """`verdict` with the program's crash as its cause when it failed and `run` shows one.

    For checks that judge their own point first: what they saw stays (summary, expected,
    received); the crash on stderr, when there is one, is the likely cause, and its last
    lines are shown. A verdict that already names the crash is returned as it is.
    """
    if verdict.passed or run is None:
        return verdict
    message = unrunnable(run)
    if message is not None:
        return message
    # A program the grader stopped while it ran crashed, if at all, on its way out: that is
    # the exit check's to judge, never the cause of what went wrong before the signal.
    crash = None if run.stopped_by_signal else died_of_crash(run)
    who = run.file
    if crash is None:
        crash, who = thread_crash(run), f"a thread of {run.file} (the program went on)"
    if crash is None:
        return verdict
    text = " ".join((verdict.summary, verdict.cause or "", *verdict.details))
    if crash.error in text:
        return verdict
    return replace(
        verdict,
        cause=f"{who} crashed with {crash.error}. {crash_lesson(crash, role_of(run, lab))}",
        details=(*verdict.details, *stderr_tail(run)),
    )


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
    if run.missing and run.found_instead:
        return Verdict(
            passed=False,
            summary=f"{run.file} not found; found {listed(run.found_instead)}",
            cause=run.found_cause,
        )
    if run.missing:
        return Verdict(
            passed=False,
            summary=f"{run.file} not found in the submission",
            cause=f"Put {run.file} at the top level of your submission, next to the others.",
        )
    refused = unrunnable(run)
    if refused is not None:
        return refused
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
    return crash_verdict(run, lab)


def unreachable(listen: ListenObservation | None, run: ProgramRun, lab: LabSpec) -> Verdict | None:
    """For checks that need a connection: a short failing verdict if there can be none.

    When the server could not be reached, the verdict points to the listening check, which
    fails for that same reason. A server that listened and then crashed is judged by what the
    check saw (a complete exchange before the crash passes); a failure gets the crash as its
    cause from crash_first(). A server that listened and then hit the process or memory limit
    fails here. None otherwise.
    """
    problem = listen_problem(listen, run, lab)
    if problem is None:
        return None if died_of_crash(run) is not None else program_problem(run, lab)
    return Verdict(
        passed=False,
        summary=f"not checked, because {problem.summary}",
        cause="Fix that first (see the listening check); this check needs a connection.",
    )


def listen_problem(
    listen: ListenObservation | None, run: ProgramRun, lab: LabSpec
) -> Verdict | None:
    """A failing verdict when the server cannot be reached on SERVER_PORT, else None.

    Judged from where it listened: a server that listened on all interfaces and crashed
    later was reachable (the later checks name the crash). With no listener, what ended the
    program (Python's error, a crash, a limit) is the cause.
    """
    if listen is not None and listen.listeners:
        return address_problem(listen)
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
    return address_problem(listen)


def address_problem(listen: ListenObservation) -> Verdict | None:
    """A failing verdict when no listener is reachable on the expected port, else None."""
    if listen.reachable:
        return None
    if listen.ipv6_only:
        return ipv6_only_problem(listen)
    port = listen.expected_port
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
            "It is bound to 127.0.0.1 (localhost) only, so clients that come from another"
            " machine or container, as the grader's do, cannot reach it: bind to '0.0.0.0'"
            " (all interfaces) instead."
        )
    return Verdict(
        passed=False,
        summary="the server cannot be reached at the lab's address on SERVER_PORT",
        expected=f"listening on 0.0.0.0:{port} (all interfaces)",
        received=f"listening on {seen}",
        cause=" ".join(sentences),
    )


def client_problem(
    run: ProgramRun, peer: ServerPeerReport | None, server_port: int, lab: LabSpec
) -> Verdict | None:
    """A failing verdict when the client never reached the reference server, else None.

    What the program's stderr shows comes first: Python's own error for a file it could not
    run, or a crash before connecting (the host is the cause only of an error of connecting).
    """
    if run.missing or run.oom_killed:
        return program_problem(run, lab)
    refused = unrunnable(run)
    if refused is not None:
        return refused
    crash = died_of_crash(run)
    if peer is not None and not peer.accepted:
        if crash is not None and not crash.while_connecting:
            return crash_verdict(run, lab, during=" before it connected,")
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
            cause=never_reached_cause(run),
            details=stderr_tail(run),
        )
    if peer is not None and refused_again(run):
        return Verdict(
            passed=False,
            summary="the client connected a second time and was refused",
            expected="one connection to SERVER_HOST:SERVER_PORT, read until the server closes it",
            received="one connection accepted, then a connection refused",
            cause="The grader's server, like the lab's, serves one connection: connect once and"
            " read everything from that connection.",
            details=stderr_tail(run),
        )
    problem = program_problem(run, lab)
    if problem is not None:
        return problem
    return None


CONNECTING_WORDS = re.compile(
    r"connect|refused|unreachable|resolve|name or service|getaddrinfo|timed out|errno|host",
    re.IGNORECASE,
)
"""Words of a message about a failed connection attempt (a program's own, or an OSError's)."""


def never_reached_cause(run: ProgramRun) -> str:
    """Why no connection attempt of a client reached the server, from what the client showed.

    A message that matches a lesson gives that lesson; a client that ended by itself with a
    message about something else stopped before connect(); otherwise the host is the suspect.
    """
    said = message_lesson(run)
    if said is not None:
        return f"{run.file} said on stderr: {said[0]!r}. {said[1]}"
    last = last_error_line(run)
    if run.exit_code not in (None, 0) and last and not CONNECTING_WORDS.search(last):
        return (
            f"{run.file} exited with status {run.exit_code} before it tried to connect; its last"
            f" words on stderr: {shorten(last)!r}. Look at what it does before connect(): with"
            " this check's input it stops there."
        )
    return (
        "The client probably connects to localhost or a hard-coded host: read the host with"
        " os.environ.get('SERVER_HOST', 'localhost')."
    )


def refused_again(run: ProgramRun) -> bool:
    """Whether the program ended with an error of a refused connection (its own or Python's)."""
    if run.exit_code in (None, 0):
        return False
    crash = crash_of(run)
    if crash is not None:
        return crash.error.startswith("ConnectionRefusedError")
    return "refused" in run.stderr_text.lower()


REPEATED_LINES = 10
"""Of the last 2 * REPEATED_LINES lines printed, how many the same line makes a printing loop."""


def kept_printing(run: ProgramRun, lab: LabSpec) -> bool:
    """Whether the program printed without end: more than the grader keeps, the same line.

    A loop on recv() that does not stop at b'' prints the same (empty) thing forever; a large
    output that is not one line repeated (an 8 MiB echo) is not counted as such a loop.
    """
    if run.stdout_bytes <= lab.limits.output_kb * 1024:
        return False
    lines = run.stdout_text.split("\n")[-2 * REPEATED_LINES - 1 : -1]
    return any(lines.count(line) >= REPEATED_LINES for line in set(lines))


def still_running(run: ProgramRun, lab: LabSpec) -> Verdict:
    """A failing verdict for a program stopped at the time limit: printing, or waiting."""
    if kept_printing(run, lab):
        return Verdict(
            passed=False,
            summary=f"{run.file} was still printing after {lab.timeouts.run_s:g} s and was"
            f" stopped: {size_text(run.stdout_bytes)} on stdout",
            expected="the output, then an exit",
            received=f"the same line again and again: {shown(run.stdout[-80:])}",
            cause="A loop that never ends printed the same line again and again. Once the"
            " other side has closed, recv() returns b'' at once, every time: leave the loop"
            " when it does (while chunk := sock.recv(1024): ...).",
            details=stderr_tail(run),
        )
    printed = f", with {size_text(run.stdout_bytes)} on stdout," if run.stdout_bytes else ""
    return Verdict(
        passed=False,
        summary=f"{run.file} was still running after {lab.timeouts.run_s:g} s{printed} and was"
        " stopped",
        cause="The program waits for something that never comes: read until recv() returns b''"
        " (the other side closed), then finish.",
        details=stderr_tail(run),
    )


def error_evidence(run: ProgramRun, lab: LabSpec) -> str | None:
    """The cause a program's own stderr gives when it ended with an error, else None.

    A crash is its lesson; a non-zero exit after a message of its own is that message.
    """
    if run.exit_code in (None, 0):
        return None
    crash = died_of_crash(run)
    if crash is not None:
        return f"{run.file} crashed with {crash.error}. {crash_lesson(crash, role_of(run, lab))}"
    lines = [line.strip() for line in run.stderr_text.splitlines() if line.strip()]
    if not lines or has_traceback(run):
        return None
    said = message_lesson(run)
    return (
        f"{run.file} exited with status {run.exit_code} after it wrote on stderr:"
        f" {shorten(lines[-1])!r}; that error stopped it before it printed the line."
        + (f" {said[1]}" if said is not None else "")
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
    evidence = error_evidence(run, lab)
    if evidence is not None:
        cause = evidence
    elif partial:
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
