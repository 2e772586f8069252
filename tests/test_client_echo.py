"""client_echo's verdicts from made-up observations (no Docker): causes and what was shown."""

from __future__ import annotations

import hashlib

from grader.checks import client_echo
from grader.checks.base import Verdict
from grader.scenarios.model import ClientSessionObservation, ProgramRun, ServerPeerReport
from grader.spec.loader import load_spec
from grader.spec.model import Input
from tests.submissions import REPOSITORY

LAB = load_spec(REPOSITORY / "labs" / "02-tcp-echo" / "spec.yaml")
INPUT = b"hello, echo\n"


def client_run(stdout: bytes, *, timed_out: bool = False, total: int | None = None) -> ProgramRun:
    return ProgramRun(
        file="client.py",
        exit_code=None if timed_out else 0,
        timed_out=timed_out,
        stdout=stdout,
        stdout_bytes=len(stdout) if total is None else total,
        stdout_sha256=hashlib.sha256(stdout).hexdigest(),
    )


def server_saw(received: bytes, echoed: bytes = b"") -> ServerPeerReport:
    return ServerPeerReport(
        accepted=True,
        received=received,
        sent=echoed,
        syn_ports=(),
        received_bytes=len(received),
    )


def judged(run: ProgramRun, peer: ServerPeerReport, data: bytes = INPUT) -> Verdict:
    params = client_echo.Params(stdin=Input(text=data))
    seen = ClientSessionObservation(client=run, peer=peer, server_port=50433)
    return client_echo.judge(params, seen, LAB)


def text(verdict: Verdict) -> str:
    return (
        "\n".join(
            filter(None, (verdict.summary, verdict.expected, verdict.received, verdict.cause))
        )
        + "\n"
        + "\n".join(verdict.details)
    )


def test_a_client_that_waits_without_its_fin_is_told_the_server_waits_for_it() -> None:
    verdict = judged(client_run(b"", timed_out=True), server_saw(INPUT, INPUT))
    assert not verdict.passed
    assert "waits for your client's FIN" in (verdict.cause or "")
    assert "sock.shutdown(socket.SHUT_WR)" in (verdict.cause or "")
    assert "what the client sent to the server (12 bytes): b'hello, echo\\n'" in text(verdict)


def test_a_client_with_empty_input_that_never_half_closes_gets_the_same_cause() -> None:
    verdict = judged(client_run(b"", timed_out=True), server_saw(b""), b"")
    assert "empty input" in verdict.summary
    assert "waits for your client's FIN" in (verdict.cause or "")


def test_a_client_that_got_the_whole_echo_and_kept_reading_is_told_to_stop_at_b_empty() -> None:
    verdict = judged(client_run(INPUT, timed_out=True), server_saw(INPUT, INPUT))
    assert "recv() returns b''" in (verdict.cause or "")
    assert "FIN" not in (verdict.cause or "")


def test_a_client_that_closed_and_printed_nothing_is_told_close_ends_both_directions() -> None:
    verdict = judged(client_run(b""), server_saw(INPUT, INPUT))
    assert "wrote nothing on stdout" in verdict.summary
    assert "close() ends both directions" in (verdict.cause or "")


def test_a_newline_added_by_print_is_shown_at_its_offset() -> None:
    verdict = judged(client_run(INPUT + b"\n"), server_saw(INPUT, INPUT))
    assert "print()" in (verdict.cause or "")
    assert "first difference from the client's input at offset 12:" in text(verdict)


def test_a_client_that_sent_part_of_its_input_is_told_to_read_all_of_stdin() -> None:
    data = b"line one\nline two\n"
    verdict = judged(client_run(b"line one\n"), server_saw(b"line one\n", b"line one\n"), data)
    assert "did not send exactly its input" in verdict.summary
    assert "sys.stdin.buffer.read()" in (verdict.cause or "")
    assert "offset 9" in text(verdict)


def test_a_long_output_cut_by_the_grader_is_compared_on_its_kept_start() -> None:
    data = bytes(range(256)) * 512
    kept = data[:1000] + b"\n[... output cut ...]\n" + data[-1000:]
    run = client_run(kept, total=len(data) - 5)
    verdict = judged(run, server_saw(data), data)
    assert "its first 1000 bytes (all the grader kept) are the input's" in text(verdict)
    assert len(text(verdict)) < 3000


def test_a_crash_after_sending_shows_the_exchange_and_the_traceback_once() -> None:
    stderr = (
        b"Traceback (most recent call last):\n"
        b'  File "/submission/client.py", line 20, in <module>\n'
        b"    while chunk := sock.recv(65536):\n"
        b"OSError: [Errno 9] Bad file descriptor\n"
    )
    run = ProgramRun(
        file="client.py",
        exit_code=1,
        stderr=stderr,
        stdout_sha256=hashlib.sha256(b"").hexdigest(),
    )
    verdict = judged(run, server_saw(INPUT, INPUT))
    assert "shutdown(socket.SHUT_WR) instead" in (verdict.cause or "")
    assert "what the client sent to the server (12 bytes): b'hello, echo\\n'" in verdict.details
    assert sum("Bad file descriptor" in line for line in verdict.details) == 1
