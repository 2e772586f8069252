"""client_echo: through the reference echo server, the client prints exactly its input.

The grader's echo server, like the lab's contract, reads until the client half-closes (its
FIN: the end of the request) and only then sends the whole echo back and closes. So a client
that never calls shutdown(SHUT_WR) waits for an echo that cannot finish, and the feedback says
so. Every failing verdict after the client reached the server shows what the client sent and
what it printed, with the first offset where each differs from its input.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import replace

from pydantic import Field

from grader.checks.base import CheckKind, Verdict
from grader.checks.byte_causes import byte_cause, difference_window, first_difference
from grader.checks.diagnosis import (
    client_problem,
    size_text,
    stderr_tail,
    still_running,
)
from grader.scenarios.model import (
    ClientSession,
    ClientSessionObservation,
    ProgramRun,
    ServerPeerReport,
)
from grader.spec.model import Input, LabSpec, ReferenceServer, spec_dataclass

HEAD_SHOWN_BYTES = 48
"""Bytes shown of what the client sent and printed; the first difference gets its own window."""
OUTPUT_CUT_MARK = b"\n[... output cut ...]\n"
"""What separates the kept first and last part of a long output (grader/scenarios/steps.py)."""

HALF_CLOSE_LESSON = (
    "The echo server waits for your client's FIN, the end of its request, before it can finish"
    " the echo (the grader's holds all of it until then; one that answers as the bytes come"
    " never closes), and a client that only waits for the echo never sends it: after sendall(),"
    " call sock.shutdown(socket.SHUT_WR), which sends the FIN, then read until recv() returns"
    " b''."
)


@spec_dataclass
class Params:
    stdin: Input = Field(description="What the client reads on its standard input.")
    status: int = Field(default=0, ge=0, le=255, description="The exit status expected, 0 to 255.")
    run_s: float | None = Field(
        default=None,
        gt=0,
        description="The client's time limit for this check, in place of the lab's timeouts.run_s:"
        " for a big input, so a correct client is not cut short on a loaded machine.",
    )


def with_run_s(params: Params, lab: LabSpec) -> LabSpec:
    """The lab as this check's scenario runs it: its own run_s, if it has one."""
    if params.run_s is None:
        return lab
    return dataclasses.replace(lab, timeouts=dataclasses.replace(lab.timeouts, run_s=params.run_s))


def output_matches(run: ProgramRun, expected: bytes) -> bool:
    return run.stdout_sha256 == hashlib.sha256(expected).hexdigest()


def judge(params: Params, seen: ClientSessionObservation, lab: LabSpec) -> Verdict:
    lab = with_run_s(params, lab)
    expected = params.stdin.build()
    client = seen.client
    peer = seen.peer
    problem = client_problem(client, peer, seen.server_port, lab)
    if problem is not None:
        reached = peer is not None and peer.accepted and client.ran
        return with_exchange(problem, client, peer, expected) if reached else problem
    if client.timed_out:
        return with_exchange(waited(client, peer, expected, lab), client, peer, expected)
    if not output_matches(client, expected):
        return with_exchange(wrong_output(client, peer, expected), client, peer, expected)
    if client.exit_code != params.status:
        return Verdict(
            passed=False,
            summary=f"the client exited with status {client.exit_code}",
            expected=f"status {params.status}",
            received=f"status {client.exit_code}",
            details=stderr_tail(client),
        )
    return Verdict(passed=True, summary=f"{len(expected)} bytes through the echo, exactly")


def sent_all(peer: ServerPeerReport, expected: bytes) -> bool:
    """Whether the echo server received exactly the client's input (as far as it kept it)."""
    return peer.received_bytes == len(expected) and expected.startswith(peer.received)


def waited(
    client: ProgramRun, peer: ServerPeerReport | None, expected: bytes, lab: LabSpec
) -> Verdict:
    """The client was stopped at the run's time limit: why it was still waiting.

    The echo server sends nothing before the client's FIN, so a client that printed nothing
    and sent its whole input was waiting for an echo its missing FIN held back.
    """
    stopped = f"was stopped after {lab.timeouts.run_s:g} s"
    if client.stdout_bytes and output_matches(client, expected):
        return Verdict(
            passed=False,
            summary=f"{client.file} wrote the whole echo, then kept running and {stopped}",
            cause="The echo and the server's close arrived, but the client kept waiting: stop"
            " reading when recv() returns b'' (the server closed), then exit.",
        )
    if peer is None or client.stdout_bytes:
        return replace(still_running(client, lab), details=())
    if sent_all(peer, expected):
        what = f"all {size_text(len(expected))} of its input" if expected else "its empty input"
        return Verdict(
            passed=False,
            summary=f"{client.file} sent {what}, then waited for the echo without sending its"
            f" FIN, and {stopped}",
            expected="the input, then the client's FIN (sock.shutdown(socket.SHUT_WR)), then the"
            " echo until the server closes",
            received="the input, then no FIN while the client ran, so no echo: nothing on stdout",
            cause=HALF_CLOSE_LESSON,
        )
    return Verdict(
        passed=False,
        summary=f"{client.file} sent {size_text(peer.received_bytes)} of its"
        f" {size_text(len(expected))} of input, then waited, and {stopped}",
        expected="all of the input, then the client's FIN (sock.shutdown(socket.SHUT_WR)), then"
        " the echo until the server closes",
        received=f"{size_text(peer.received_bytes)}, then no FIN and nothing on stdout",
        cause="The echo server sends the echo once the whole request has arrived with its FIN:"
        " read all of stdin (sys.stdin.buffer.read()), send it with sendall(), then call"
        " sock.shutdown(socket.SHUT_WR), then read until recv() returns b''.",
    )


def wrong_output(client: ProgramRun, peer: ServerPeerReport | None, expected: bytes) -> Verdict:
    """The client ended, but what it printed is not exactly its input."""
    if peer is not None and not sent_all(peer, expected):
        return Verdict(
            passed=False,
            summary="the client did not send exactly its input to the server",
            expected=f"{size_text(len(expected))} sent, the same as stdin",
            received=f"{size_text(peer.received_bytes)} sent",
            cause=sending_cause(peer, expected),
        )
    if not client.stdout_bytes and expected:
        return Verdict(
            passed=False,
            summary="the client sent all of its input but wrote nothing on stdout",
            expected=f"{size_text(len(expected))} on stdout, the same as stdin",
            received="nothing",
            cause="The echo server sends the echo after the client's FIN: send it with"
            " sock.shutdown(socket.SHUT_WR), which ends only the sending side, then read until"
            " recv() returns b'' and write what came with sys.stdout.buffer.write(). close()"
            " ends both directions, so after it the echo can no longer arrive.",
        )
    cause = byte_cause(expected, kept_head(client), client.stdout_bytes, "client")
    return Verdict(
        passed=False,
        summary="stdout is not exactly the input",
        expected=f"{size_text(len(expected))} on stdout, the same as stdin",
        received=size_text(client.stdout_bytes),
        cause=cause
        or "The bytes differ: write exactly what recv() returned, without decoding, stripping"
        " or re-encoding it.",
    )


def sending_cause(peer: ServerPeerReport, expected: bytes) -> str:
    """Why what the server received is not the client's input."""
    received, total = peer.received, peer.received_bytes
    if total < len(expected) and expected.startswith(received):
        return (
            f"The client sent only the first {size_text(total)} of its input: read all of stdin"
            " with sys.stdin.buffer.read() (not one line, not input()), and send it all with"
            " sendall()."
        )
    if total > len(expected) and received.startswith(expected[: len(received)]):
        return "The client sent more than its input: send exactly the bytes read, nothing added."
    return (
        "The client changed its input before sending it: read bytes with"
        " sys.stdin.buffer.read() and send them unchanged, without decoding or encoding text."
    )


def kept_head(run: ProgramRun) -> bytes:
    """The first part of the program's stdout the grader kept (all of it, when it was short)."""
    if len(run.stdout) == run.stdout_bytes:
        return run.stdout
    return run.stdout.split(OUTPUT_CUT_MARK, 1)[0]


def head_text(data: bytes, total: int) -> str:
    """The start of a byte stream as a repr, with how much more there was."""
    more = total - min(len(data), HEAD_SHOWN_BYTES)
    return repr(data[:HEAD_SHOWN_BYTES]) + (f" … and {size_text(more)} more" if more > 0 else "")


def stream_lines(what: str, expected: bytes, kept: bytes, total: int) -> tuple[str, ...]:
    """What a stream held and where it first differs from `expected`, in a short window.

    `kept` is the stream's first part, or all of it when its length is `total`.
    """
    if not total:
        return (f"{what}: nothing" + (", the same as the client's input" if not expected else ""),)
    head = f"{what} ({size_text(total)}): {head_text(kept, total)}"
    offset = first_difference(expected, kept)
    complete = len(kept) == total
    if offset is None and complete:
        return (head, "  the same as the client's input")
    if offset is None or (not complete and offset >= len(kept)):
        return (head, f"  its first {size_text(len(kept))} (all the grader kept) are the input's")
    return (
        head,
        f"  first difference from the client's input at offset {offset}:",
        *(f"    {line}" for line in difference_window(expected, kept, offset)),
    )


def exchange_lines(
    client: ProgramRun, peer: ServerPeerReport | None, expected: bytes
) -> tuple[str, ...]:
    """What the client sent to the grader's echo server, and what it printed."""
    sent: tuple[str, ...] = ()
    if peer is not None and peer.accepted:
        sent = stream_lines(
            "what the client sent to the server", expected, peer.received, peer.received_bytes
        )
    printed = stream_lines(
        "what the client printed on stdout", expected, kept_head(client), client.stdout_bytes
    )
    return (*sent, *printed)


def with_exchange(
    verdict: Verdict, client: ProgramRun, peer: ServerPeerReport | None, expected: bytes
) -> Verdict:
    """`verdict` with the exchange first in its details, and the client's stderr."""
    tail = stderr_tail(client)
    shown_already = bool(tail) and tail[-1] in verdict.details
    return replace(
        verdict,
        details=(
            *exchange_lines(client, peer, expected),
            *verdict.details,
            *(() if shown_already else tail),
        ),
    )


KIND = CheckKind(
    name="client_echo",
    description="Through the grader's echo server, the client writes exactly its input.",
    params=Params,
    scenario=lambda params: ClientSession(ReferenceServer(echo=True), params.stdin, params.run_s),
    judge=judge,
    needs=("client",),
)
