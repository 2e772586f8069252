"""The likely cause of a failure, judged from made-up runs: no Docker is needed."""

from __future__ import annotations

from grader.checks import check_kinds
from grader.checks.base import Verdict
from grader.checks.diagnosis import (
    LESSONS,
    Lesson,
    bytes_text,
    client_problem,
    crash_first,
    crash_lesson,
    crash_of,
    listen_problem,
    missing_line,
    program_problem,
    python_message,
    size_text,
    still_running,
    unreachable,
    unrunnable,
    with_crash_cause,
)
from grader.scenarios.model import (
    ClientSessionObservation,
    Listener,
    ListenObservation,
    ProgramRun,
    ServerPeerReport,
    ServerSessionObservation,
)
from grader.spec.loader import load_spec
from tests.submissions import REPOSITORY

LAB01 = load_spec(REPOSITORY / "labs" / "01-tcp-hello" / "spec.yaml")
LAB02 = load_spec(REPOSITORY / "labs" / "02-tcp-echo" / "spec.yaml")
LISTENING = ListenObservation(50432, (Listener("0.0.0.0", 50432),), 0.1)
NOT_LISTENING = ListenObservation(50432, (), 10.0)
NOT_ACCEPTED = ServerPeerReport(accepted=False, received=b"", sent=b"", syn_ports=())
ACCEPTED = ServerPeerReport(accepted=True, received=b"", sent=b"Hello", syn_ports=(50432,))

SYNTAX_ERROR = (
    '  File "/submission/client.py", line 7\n'
    '    HOST = os.environ.get("SERVER_HOST", "localhost"\n'
    "                         ^\n"
    "SyntaxError: '(' was never closed\n"
)
TAB_ERROR = (
    '  File "/submission/server.py", line 12\n'
    "    conn.sendall(GREETING)\n"
    "TabError: inconsistent use of tabs and spaces in indentation\n"
)
NOT_UTF8 = (
    "SyntaxError: Non-UTF-8 code starting with '\\xe9' in file /submission/client.py on line 3,"
    " but no encoding declared; see https://peps.python.org/pep-0263/ for details\n"
)
UNKNOWN_CODING = "SyntaxError: encoding problem: nonexistent\n"


def traceback(code: str, error: str, file: str = "server.py") -> bytes:
    return (
        "Traceback (most recent call last):\n"
        f'  File "/submission/{file}", line 9, in <module>\n'
        f"    {code}\n"
        f"    {'^' * len(code)}\n"
        f"{error}\n"
    ).encode()


def server(stderr: bytes = b"", exit_code: int | None = 1, **kwargs: object) -> ProgramRun:
    return ProgramRun(file="server.py", exit_code=exit_code, stderr=stderr, **kwargs)  # type: ignore[arg-type]


def client(stderr: bytes = b"", exit_code: int | None = 1, **kwargs: object) -> ProgramRun:
    return ProgramRun(file="client.py", exit_code=exit_code, stderr=stderr, **kwargs)  # type: ignore[arg-type]


def cause_of(verdict: Verdict | None) -> str:
    assert verdict is not None and not verdict.passed
    return verdict.cause or ""


# --- a file Python cannot run ----------------------------------------------------------------


def test_a_syntax_error_is_pythons_own_message_with_file_line_and_caret() -> None:
    verdict = unrunnable(client(SYNTAX_ERROR.encode()))
    assert verdict is not None
    assert verdict.summary == (
        "Python could not run client.py: SyntaxError: '(' was never closed (line 7)"
    )
    assert '  File "/submission/client.py", line 7' in "\n".join(verdict.details)
    assert any(line.strip() == "^" for line in verdict.details)


def test_tab_and_encoding_errors_each_get_their_own_lesson() -> None:
    assert "spaces only" in cause_of(unrunnable(server(TAB_ERROR.encode())))
    assert "UTF-8" in cause_of(unrunnable(client(NOT_UTF8.encode())))
    assert "coding: utf-8" in cause_of(unrunnable(client(UNKNOWN_CODING.encode())))


def test_a_program_that_ran_is_not_called_unrunnable() -> None:
    assert python_message(client(b"client: cannot connect: Connection refused\n")) is None
    assert python_message(client(traceback("import helper", "SyntaxError: bad"))) is None
    assert python_message(client(SYNTAX_ERROR.encode(), exit_code=0)) is None
    assert python_message(client(SYNTAX_ERROR.encode(), stdout=b"hello\n")) is None


def test_a_client_python_cannot_run_fails_the_no_server_check() -> None:
    check = next(check for check in LAB01.checks if check.id == "client-no-server")
    seen = ClientSessionObservation(client(SYNTAX_ERROR.encode()), None, 50432)
    verdict = check_kinds()[check.kind].verdict(check.params, seen, LAB01)
    assert not verdict.passed
    assert "SyntaxError" in verdict.summary


def test_a_client_python_cannot_run_is_not_told_about_hosts() -> None:
    verdict = client_problem(client(SYNTAX_ERROR.encode()), NOT_ACCEPTED, 50432, LAB01)
    assert verdict is not None
    assert "SyntaxError" in verdict.summary
    assert "SERVER_HOST" not in cause_of(verdict)


# --- crash evidence comes first --------------------------------------------------------------


def test_the_last_traceback_is_read_past_carets_and_chained_exceptions() -> None:
    first = traceback("x = 1", "KeyError: 'a'")
    then = b"\nDuring handling of the above exception, another exception occurred:\n\n"
    stderr = first + then + traceback("data.decode()", "UnicodeDecodeError: x")
    crash = crash_of(server(stderr))
    assert crash is not None
    assert crash.error == "UnicodeDecodeError: x"
    assert crash.code == "data.decode()"
    assert crash.where == 'File "/submission/server.py", line 9, in <module>'


def test_a_client_that_crashed_before_connecting_is_told_the_crash_not_the_host() -> None:
    stderr = traceback(
        "data = sys.stdin.read().encode()",
        "UnicodeEncodeError: 'utf-8' codec can't encode character '\\udcff' in position 0:"
        " surrogates not allowed",
        "client.py",
    )
    verdict = client_problem(client(stderr), NOT_ACCEPTED, 50432, LAB02)
    assert verdict is not None
    assert "UnicodeEncodeError" in verdict.summary
    assert "sys.stdin.buffer.read()" in cause_of(verdict)
    assert "hard-coded host" not in cause_of(verdict)


def test_a_client_refused_at_a_hard_coded_host_is_told_about_the_host() -> None:
    stderr = traceback(
        "sock.connect(('localhost', PORT))",
        "ConnectionRefusedError: [Errno 111] Connection refused",
        "client.py",
    )
    verdict = client_problem(client(stderr), NOT_ACCEPTED, 50432, LAB01)
    assert "SERVER_HOST" in cause_of(verdict)


def test_a_client_refused_after_its_one_connection_is_told_to_connect_once() -> None:
    run = client(b"client: cannot connect to server:50432: Connection refused\n")
    verdict = client_problem(run, ACCEPTED, 50432, LAB01)
    assert verdict is not None
    assert verdict.summary == "the client connected a second time and was refused"
    assert "connect once" in cause_of(verdict)


def test_a_missing_line_after_an_error_message_names_that_message() -> None:
    run = client(b"client: something went wrong\n")
    cause = cause_of(missing_line(run, "Received from server: Hello, Client!", LAB01))
    assert "client: something went wrong" in cause
    assert "README" not in cause


def test_a_missing_line_after_a_crash_names_the_crash() -> None:
    run = client(traceback("input()", "EOFError: EOF when reading a line", "client.py"))
    cause = cause_of(missing_line(run, "Received from server: Hello, Client!", LAB01))
    assert "EOFError" in cause and "keyboard" in cause


def test_with_crash_cause_puts_the_crash_first_and_keeps_what_the_check_saw() -> None:
    seen = Verdict(passed=False, summary="the echo was not exact", expected="x", cause="loop")
    run = server(traceback("data.decode()", "UnicodeDecodeError: 'utf-8' codec can't decode"))
    verdict = with_crash_cause(seen, run, LAB02)
    assert verdict.summary == seen.summary and verdict.expected == "x"
    assert "UnicodeDecodeError" in cause_of(verdict)
    assert "without decoding" in cause_of(verdict)
    assert with_crash_cause(seen, server(b"went away\n", exit_code=0), LAB02) == seen
    assert with_crash_cause(Verdict(passed=True, summary="ok"), run, LAB02).passed


def test_a_program_that_kept_printing_is_not_told_to_read_until_b_empty() -> None:
    run = client(
        exit_code=None,
        timed_out=True,
        stdout=b"\n" * 4000,
        stdout_bytes=5_000_000,
    )
    verdict = still_running(run, LAB01)
    assert "still printing" in verdict.summary and "MiB" in verdict.summary
    assert "again and again" in cause_of(verdict)


def test_a_program_that_waits_is_told_what_it_waits_for() -> None:
    verdict = still_running(client(exit_code=None, timed_out=True), LAB01)
    assert "waits for something" in cause_of(verdict)


# --- a crash the check itself caused ---------------------------------------------------------


def test_a_crash_after_listening_is_judged_by_the_check_with_the_crash_as_its_cause() -> None:
    run = server(traceback("data.decode()", "UnicodeDecodeError: 'utf-8' codec can't decode"))
    assert listen_problem(LISTENING, run, LAB02) is None
    assert unreachable(LISTENING, run, LAB02) is None
    seen = Verdict(passed=False, summary="the echo was not exact", cause="loop on recv()")
    observation = ServerSessionObservation(server=run, listen=LISTENING, peer=None)
    verdict = crash_first(seen, observation, LAB02)
    assert verdict.summary == seen.summary
    assert "UnicodeDecodeError" in cause_of(verdict) and "without decoding" in cause_of(verdict)
    assert "listening check" not in cause_of(verdict)


def test_a_thread_that_crashed_is_evidence_and_a_logged_traceback_is_not() -> None:
    seen = Verdict(passed=False, summary="no echo", cause="loop on recv()")
    thread = b"Exception in thread Thread-1 (serve):\n"
    died = thread + traceback("d.decode()", "UnicodeDecodeError: x")
    running = server(died, exit_code=None, timed_out=True)
    cause = cause_of(with_crash_cause(seen, running, LAB02))
    assert cause.startswith("a thread of server.py (the program went on) crashed with Unicode")
    logged = server(traceback("conn.recv(1)", "ConnectionResetError: x"), exit_code=143)
    assert with_crash_cause(seen, logged, LAB02) == seen


def test_a_crash_before_listening_points_to_the_listening_check() -> None:
    run = server(
        traceback("listener.bind((HOST, PORT))", "OSError: [Errno 99] Cannot assign requested")
    )
    listen = listen_problem(NOT_LISTENING, run, LAB01)
    assert listen is not None and "0.0.0.0" in cause_of(listen)
    assert "works at home" in cause_of(listen)
    verdict = unreachable(NOT_LISTENING, run, LAB01)
    assert verdict is not None
    assert verdict.summary.startswith("not checked, because server.py crashed")
    assert "listening check" in cause_of(verdict)


# --- lessons ---------------------------------------------------------------------------------


def lesson(code: str, error: str, role: str = "server") -> str:
    crash = crash_of(server(traceback(code, error)))
    assert crash is not None
    return crash_lesson(crash, role)


def test_eagain_on_a_socket_is_a_non_blocking_socket_not_the_process_limit() -> None:
    text = lesson("data = conn.recv(1024)", "BlockingIOError: [Errno 11] Resource temporarily")
    assert "setblocking(False)" in text and "process" not in text
    run = server(traceback("conn.recv(1024)", "BlockingIOError: [Errno 11] Resource"))
    verdict = program_problem(run, LAB01)
    assert verdict is not None and "processes and threads" not in verdict.summary


def test_eagain_from_fork_or_a_thread_start_is_the_process_limit() -> None:
    assert "process or thread" in lesson("pid = os.fork()", "BlockingIOError: [Errno 11] x")
    assert "process or thread" in lesson("t.start()", "RuntimeError: can't start new thread")


def test_each_common_crash_has_its_own_lesson() -> None:
    assert "works at home" in lesson("s.bind(('10.1.2.3', PORT))", "OSError: [Errno 99] Cannot")
    assert "without decoding" in lesson("data.decode()", "UnicodeDecodeError: 'utf-8' codec")
    assert "sys.stdout.buffer" in lesson("x.decode()", "UnicodeDecodeError: 'utf-8'", "client")
    assert "sys.stdin.buffer" in lesson("d = sys.stdin.read()", "UnicodeDecodeError: 'utf-8'")
    assert "accept() for the next" in lesson("conn.recv(1)", "ConnectionResetError: [Errno 104]")
    for text in (lesson("f()", "NameError: name 'f' is not defined"),):
        assert "NameError" in text and "by hand" not in text


def test_every_lesson_is_one_entry_of_the_table() -> None:
    assert all(isinstance(entry, Lesson) for entry in LESSONS)
    assert all(entry.lesson.endswith(".") for entry in LESSONS)


def test_a_traceback_the_program_survived_is_not_what_ended_it() -> None:
    logged = traceback("conn.recv(1024)", "ConnectionResetError: [Errno 104] reset")
    stopped = server(logged + b"client went away\n", exit_code=143)
    assert unreachable(LISTENING, stopped, LAB02) is None
    assert program_problem(stopped, LAB02) is None


def test_a_client_that_printed_its_own_error_is_told_that_error_not_a_guess() -> None:
    run = client(b"client: cannot connect to server:50432: Cannot assign requested address\n")
    cause = cause_of(client_problem(run, NOT_ACCEPTED, 50432, LAB01))
    assert "Cannot assign requested address" in cause and "hard-coded host" not in cause
    refused = client(b"client: cannot connect to localhost:50432: Connection refused\n")
    assert "hard-coded host" in cause_of(client_problem(refused, NOT_ACCEPTED, 50432, LAB01))


def test_a_crash_before_connecting_fails_the_no_server_check_with_its_lesson() -> None:
    check = next(check for check in LAB02.checks if check.id == "client-no-server")
    stderr = traceback("data = sys.stdin.read()", "UnicodeDecodeError: 'utf-8' codec", "client.py")
    seen = ClientSessionObservation(client(stderr), None, 50432)
    verdict = check_kinds()[check.kind].verdict(check.params, seen, LAB02)
    assert not verdict.passed
    assert "UnicodeDecodeError" in verdict.summary
    assert "sys.stdin.buffer.read()" in cause_of(verdict)


def test_a_crash_on_the_way_out_after_the_graders_stop_is_not_a_checks_cause() -> None:
    seen = Verdict(passed=False, summary="echoed 12 of 8 MiB", cause="loop on recv()")
    on_stop = traceback("conn, address = listener.accept()", "OSError: [Errno 9] Bad file")
    verdict = with_crash_cause(seen, server(on_stop, stopped_by_signal=True), LAB02)
    assert verdict == seen
    crashed = with_crash_cause(seen, server(on_stop), LAB02)
    assert "listening socket" in cause_of(crashed), "a server's Errno 9 gets the server lesson"


def test_byte_counts_are_said_as_a_person_says_them() -> None:
    assert [bytes_text(n) for n in (0, 1, 2, 1048581)] == [
        "0 bytes",
        "1 byte",
        "2 bytes",
        "1048581 bytes",
    ]
    assert [size_text(n) for n in (1, 600, 2048, 3 << 19)] == [
        "1 byte",
        "600 bytes",
        "2 KiB",
        "1.5 MiB",
    ]
