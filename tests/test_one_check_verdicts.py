"""Each check judges only its own point: output as printed, a server's exit after its work.

The observations are made by hand, as the bounded peers report them; no Docker is needed.
"""

from __future__ import annotations

from grader.checks import check_kinds
from grader.checks.base import Verdict
from grader.scenarios.model import (
    ClientPeerReport,
    ClientSessionObservation,
    Connection,
    EndToEndObservation,
    Listener,
    ListenObservation,
    ProgramRun,
    ServerPeerReport,
    ServerSessionObservation,
)
from grader.spec.loader import load_spec
from tests.submissions import REPOSITORY

LAB01 = load_spec(REPOSITORY / "labs" / "01-tcp-hello" / "spec.yaml")
GREETING_LINE = b"Received from server: Hello, Client!\n"
CRASH = (
    b'Traceback (most recent call last):\n  File "client.py"\nEOFError: EOF when reading a line\n'
)
LISTENING = ListenObservation(50432, (Listener("0.0.0.0", 50432),), 0.1)


def judge(check_id: str, observation: object) -> Verdict:
    check = next(check for check in LAB01.checks if check.id == check_id)
    return check_kinds()[check.kind].verdict(check.params, observation, LAB01)


def client_session(run: ProgramRun) -> ClientSessionObservation:
    peer = ServerPeerReport(accepted=True, received=b"", sent=b"Hello, Client!", syn_ports=())
    return ClientSessionObservation(client=run, peer=peer, server_port=50432)


def crashed_after(stdout: bytes) -> ProgramRun:
    return ProgramRun(file="client.py", exit_code=1, stdout=stdout, stderr=CRASH)


def test_output_checks_pass_the_right_line_printed_before_a_crash() -> None:
    seen = client_session(crashed_after(GREETING_LINE))
    assert judge("client-greeting", seen).passed
    assert judge("client-greeting-in-pieces", seen).passed
    exit_verdict = judge("client-exit", seen)
    assert not exit_verdict.passed and "EOFError" in exit_verdict.summary


def test_end_to_end_passes_the_right_line_printed_before_a_crash() -> None:
    seen = EndToEndObservation(
        server=ProgramRun(file="server.py", exit_code=0),
        listen=LISTENING,
        client=crashed_after(GREETING_LINE),
    )
    assert judge("end-to-end", seen).passed


def test_only_the_format_check_fails_a_whole_greeting_in_another_format() -> None:
    seen = client_session(
        ProgramRun(file="client.py", exit_code=0, stdout=b"Received: Hello, Client!\n")
    )
    assert not judge("client-greeting", seen).passed
    assert judge("client-greeting-in-pieces", seen).passed


def test_the_pieces_check_names_a_greeting_cut_after_the_first_piece() -> None:
    run = ProgramRun(file="client.py", exit_code=0, stdout=b"Received from server: Hel\n")
    verdict = judge("client-greeting-in-pieces", client_session(run))
    assert not verdict.passed
    assert verdict.cause is not None and "'Hel'" in verdict.cause and "recv()" in verdict.cause


def server_session(connection: Connection, exit_code: int | None) -> ServerSessionObservation:
    return ServerSessionObservation(
        server=ProgramRun(file="server.py", exit_code=exit_code, timed_out=exit_code is None),
        listen=LISTENING,
        peer=ClientPeerReport(connections=(connection,)),
    )


def connection(end: str, received: bytes) -> Connection:
    return Connection(
        connected=True,
        connect_error=None,
        end=end,  # type: ignore[arg-type]
        received=received,
        received_bytes=len(received),
    )


def test_server_exit_fails_a_server_that_exited_without_serving() -> None:
    verdict = judge("server-exit", server_session(connection("rst", b""), 0))
    assert not verdict.passed
    assert verdict.summary == "the server exited without serving its client"


def test_server_exit_passes_a_server_that_served_and_exited() -> None:
    assert judge("server-exit", server_session(connection("fin", b"Hello, Client!"), 0)).passed


def test_server_exit_says_a_running_server_never_served_its_client() -> None:
    verdict = judge("server-exit", server_session(connection("timeout", b""), None))
    assert "had not served its client" in verdict.summary
