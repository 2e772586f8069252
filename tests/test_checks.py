"""Check kinds judge observations; these are made by hand here, so no Docker is needed."""

from __future__ import annotations

from grader.checks import check_kinds
from grader.checks.base import Verdict
from grader.checks.diagnosis import program_problem
from grader.scenarios.model import (
    ClientPeerReport,
    ClientSessionObservation,
    Connection,
    Listener,
    ListenObservation,
    ProgramRun,
    ServerPeerReport,
    ServerSessionObservation,
)
from grader.spec.loader import load_spec
from tests.submissions import REPOSITORY

LAB = load_spec(REPOSITORY / "labs" / "01-tcp-hello" / "spec.yaml")
SERVER_EXITED = ProgramRun(file="server.py", exit_code=0)
LISTENING = ListenObservation(50432, (Listener("0.0.0.0", 50432),), 0.1)


def judge(check_id: str, observation: object) -> Verdict:
    check = next(check for check in LAB.checks if check.id == check_id)
    return check_kinds()[check.kind].verdict(check.params, observation, LAB)  # type: ignore[arg-type]


def served(received: bytes, end: str = "fin") -> ServerSessionObservation:
    connection = Connection(connected=True, connect_error=None, received=received, end=end)  # type: ignore[arg-type]
    peer = ClientPeerReport(connections=(connection,))
    return ServerSessionObservation(server=SERVER_EXITED, listen=LISTENING, peer=peer)


def test_greeting_check_passes_on_the_exact_bytes() -> None:
    assert judge("server-greeting", served(b"Hello, Client!")).passed


def test_greeting_check_shows_both_reprs_and_names_the_newline() -> None:
    verdict = judge("server-greeting", served(b"Hello, Client!\n"))
    assert not verdict.passed
    assert verdict.expected == "b'Hello, Client!'"
    assert verdict.received == "b'Hello, Client!\\n'"
    assert verdict.cause is not None and "line ending" in verdict.cause


def test_greeting_check_names_the_missing_end_when_a_short_greeting_is_cut() -> None:
    # One send() of 14 bytes on a new connection sends them all: the text itself is short.
    verdict = judge("server-greeting", served(b"Hello"))
    assert verdict.cause is not None
    assert "lacks the last 9 bytes, b', Client!'" in verdict.cause
    assert "sendall" not in verdict.cause


def test_listen_check_teaches_all_interfaces_for_a_loopback_server() -> None:
    listen = ListenObservation(50432, (Listener("127.0.0.1", 50432),), 0.1)
    observation = ServerSessionObservation(server=SERVER_EXITED, listen=listen, peer=None)
    verdict = judge("server-listens", observation)
    assert not verdict.passed
    assert verdict.cause is not None and "'0.0.0.0'" in verdict.cause


def test_dependent_checks_point_back_to_the_listen_problem() -> None:
    observation = ServerSessionObservation(
        server=ProgramRun(file="server.py", exit_code=None, timed_out=True),
        listen=ListenObservation(50432, (), 10.0),
        peer=None,
    )
    verdict = judge("server-greeting", observation)
    assert verdict.summary.startswith("not checked, because nothing listened")


def test_missing_file_is_named() -> None:
    observation = ServerSessionObservation(
        server=ProgramRun(file="server.py", missing=True), listen=None, peer=None
    )
    assert judge("server-listens", observation).summary == "server.py not found in the submission"


def client_run(**kwargs: object) -> ProgramRun:
    return ProgramRun(file="client.py", **kwargs)  # type: ignore[arg-type]


def test_client_that_knocked_on_another_port_is_told_so() -> None:
    peer = ServerPeerReport(accepted=False, received=b"", sent=b"", syn_ports=(65432,))
    observation = ClientSessionObservation(client_run(exit_code=1), peer, 50432)
    verdict = judge("client-greeting", observation)
    assert verdict.summary == "the client connected to the wrong port"
    assert verdict.received == "connection attempts on port 65432"


def test_client_that_printed_a_partial_greeting_learns_about_byte_streams() -> None:
    peer = ServerPeerReport(accepted=True, received=b"", sent=b"Hello, Client!", syn_ports=(50432,))
    observation = ClientSessionObservation(
        client_run(exit_code=0, stdout=b"Received from server: Hel\n"), peer, 50432
    )
    verdict = judge("client-greeting-in-pieces", observation)
    assert verdict.cause is not None and "byte stream" in verdict.cause


def test_no_server_check_wants_status_message_and_no_traceback() -> None:
    def verdict(**kwargs: object) -> Verdict:
        return judge("client-no-server", ClientSessionObservation(client_run(**kwargs), None, 1))

    assert verdict(exit_code=1, stderr=b"cannot connect\n").passed
    assert not verdict(exit_code=0, stderr=b"cannot connect\n").passed
    assert not verdict(exit_code=1, stderr=b"").passed
    traceback = b"Traceback (most recent call last):\nConnectionRefusedError: x\n"
    assert "traceback" in verdict(exit_code=1, stderr=traceback).summary


EAGAIN_ON_A_SOCKET = (
    "Traceback (most recent call last):\n"
    '  File "/submission/server.py", line 9, in <module>\n'
    "    data = conn.recv(1024)\n"
    "BlockingIOError: [Errno 11] Resource temporarily unavailable\n"
)


def test_eagain_on_a_socket_is_not_called_the_process_limit() -> None:
    run = ProgramRun(file="server.py", exit_code=1, stderr=EAGAIN_ON_A_SOCKET.encode())
    verdict = program_problem(run, LAB)
    assert verdict is not None
    assert "processes" not in verdict.summary
    assert "BlockingIOError" in verdict.summary


def test_a_fork_loop_killed_for_memory_is_named_for_its_processes_first() -> None:
    run = ProgramRun(file="server.py", oom_killed=True, process_limit_hit=True)
    verdict = program_problem(run, LAB)
    assert verdict is not None
    assert verdict.summary.startswith(f"server.py hit the limit of {LAB.limits.pids} processes")
    assert f"more than {LAB.limits.memory_mb} MB of memory" in verdict.summary


def test_a_fork_loop_stopped_by_memory_before_the_limit_is_named_for_its_processes() -> None:
    run = ProgramRun(file="server.py", oom_killed=True, peak_processes=LAB.limits.pids - 10)
    verdict = program_problem(run, LAB)
    assert verdict is not None
    assert "started processes or threads without end" in verdict.summary


def test_a_single_memory_hog_is_named_for_memory() -> None:
    run = ProgramRun(file="server.py", oom_killed=True, peak_processes=1)
    verdict = program_problem(run, LAB)
    assert verdict is not None
    assert verdict.summary == (
        f"server.py was killed: it used more than {LAB.limits.memory_mb} MB of memory"
    )


def test_a_short_greeting_cut_short_blames_the_text_not_send() -> None:
    from grader.checks.server_sends import likely_cause

    assert "lacks the last 1 byte, b'!'" in likely_cause(b"Hello, Client!", b"Hello, Client")
    assert "sendall()" in likely_cause(b"x" * 100_000, b"x" * 500)
