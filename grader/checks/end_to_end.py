"""end_to_end: the student's client against the student's server prints the expected line."""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.checks.base import CheckKind, Verdict, passed
from grader.checks.client_echo import output_matches
from grader.checks.diagnosis import (
    missing_line,
    program_problem,
    size_text,
    stderr_tail,
    still_running,
    unreachable,
)
from grader.scenarios.model import EndToEnd, EndToEndObservation, ProgramRun
from grader.spec.model import Input, LabSpec, doc

FLOOD_MARGIN_BYTES = 1 << 20
"""A client that wrote this much more than its input was fed by a flooding server."""


@dataclass(frozen=True)
class Params:
    stdout_line: str | None = field(
        default=None, metadata=doc("A line the client must print, exactly.")
    )
    stdin: Input | None = field(default=None, metadata=doc("The client's standard input."))
    stdout_is_stdin: bool = field(
        default=False, metadata=doc("The client must write exactly its input to stdout.")
    )


def judge(params: Params, seen: EndToEndObservation, lab: LabSpec) -> Verdict:
    problem = unreachable(seen.listen, seen.server, lab)
    if problem is None and seen.client is not None:
        problem = program_problem(seen.client, lab)
        if problem is None and seen.client.timed_out:
            problem = flooded(params, seen.client) or still_running(seen.client, lab)
        if problem is None and params.stdout_line is not None:
            problem = missing_line(seen.client, params.stdout_line, lab)
        if problem is None and params.stdout_is_stdin:
            expected = params.stdin.build() if params.stdin else b""
            if not output_matches(seen.client, expected):
                problem = Verdict(
                    passed=False,
                    summary="your client did not write back exactly its input",
                    expected=f"{len(expected)} bytes, the same as stdin",
                    received=f"{seen.client.stdout_bytes} bytes",
                    details=stderr_tail(seen.client),
                )
    if problem is None and seen.client is not None:
        problem = no_exchange(seen)
    if problem is not None:
        return problem
    return passed("your client and your server work together")


def no_exchange(seen: EndToEndObservation) -> Verdict | None:
    """A failing verdict when the capture shows nothing from the server reached a client.

    The client's output alone proves nothing: a client can print the expected line without
    ever connecting. None when the capture shows the server's data (or cannot tell: no
    capture, or one cut short).
    """
    if seen.capture is None or seen.listen is None:
        return None
    conversation = seen.capture.conversation
    if conversation.truncated:
        return None
    port = seen.listen.expected_port
    tcp = any(
        flow.handshake.complete and flow.data("to_client") for flow in conversation.tcp_to(port)
    )
    udp = any(flow.sent("to_client") for flow in conversation.udp_to(port))
    if tcp or udp:
        return None
    return Verdict(
        passed=False,
        summary="your client's output did not come from your server",
        expected=f"a connection from your client to your server's port {port} that carries"
        " the server's data back",
        received="no data from your server to any client in the capture of your server's traffic",
        cause="The client must print what it received from the server, not a line of its own:"
        " connect to SERVER_HOST:SERVER_PORT and print what recv() returns.",
        details=stderr_tail(seen.client) if seen.client is not None else (),
    )


def flooded(params: Params, client: ProgramRun) -> Verdict | None:
    """A client stopped while it wrote far more than its input: the server kept sending."""
    if not params.stdout_is_stdin:
        return None
    expected = len(params.stdin.build()) if params.stdin else 0
    if client.stdout_bytes <= expected + FLOOD_MARGIN_BYTES:
        return None
    return Verdict(
        passed=False,
        summary=f"your client wrote {size_text(client.stdout_bytes)} for"
        f" {size_text(expected)} of input and was still running after"
        f" {client.elapsed_s or 0:.0f} s",
        expected=f"{size_text(expected)} on stdout, then an exit",
        received=f"{size_text(client.stdout_bytes)} and still writing",
        cause="Your server kept sending after the echo was complete (see the echo checks):"
        " send back each piece once, then recv() again.",
        details=stderr_tail(client),
    )


KIND = CheckKind(
    name="end_to_end",
    description="The client, run against the student's own server, prints the expected line.",
    params=Params,
    scenario=lambda params: EndToEnd(params.stdin),
    judge=judge,
    needs=("server", "client"),
    captures=True,  # the server's traffic proves the client's output came from it
)
