"""server_echo: every byte the reference client sends comes back, in order, unchanged."""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.checks.base import CheckKind, Verdict
from grader.checks.diagnosis import shown, unreachable
from grader.scenarios.model import Connection, ServerSession, ServerSessionObservation
from grader.spec.model import LabSpec, ReferenceClient, doc


@dataclass(frozen=True)
class Params:
    reference_client: ReferenceClient = field(
        metadata=doc("What the grader's client sends; it half-closes and reads the echo."),
    )


def connection_problem(connection: Connection, number: int, of: int) -> Verdict | None:
    which = f"client {number} of {of}" if of > 1 else "the client"
    if not connection.connected:
        return Verdict(
            passed=False,
            summary=f"{which} could not connect",
            received=connection.connect_error,
            cause="After one client the server must accept() the next: loop around accept().",
        )
    if connection.echoed and connection.end == "fin":
        return None
    expected = f"{connection.sent_bytes} bytes back, identical, then an orderly close"
    if connection.end == "timeout" and connection.received_bytes < connection.sent_bytes:
        cause = (
            "The server stopped echoing or never closed: keep calling recv() until it returns"
            " b'' (the client's half-close), send back each piece with sendall(), then close."
        )
    elif connection.received_bytes < connection.sent_bytes:
        cause = (
            "Part of the data never came back: a single recv() gets only part of a stream, and"
            " send() may send only part of a buffer; loop on recv() and use sendall()."
        )
    elif connection.first_difference is not None:
        cause = "The bytes changed on the way: send back exactly what recv() returned, with no"
        cause += " decoding, stripping or added newline."
    else:
        cause = "Close the connection once the client has half-closed and everything is sent."
    offset = connection.first_difference
    return Verdict(
        passed=False,
        summary=f"{which}: the echo was not exact",
        expected=expected,
        received=(
            f"{connection.received_bytes} bytes, end: {connection.end}"
            + (f", first difference at byte {offset}" if offset is not None else "")
        ),
        cause=cause,
        details=(f"first bytes received: {shown(connection.received[:80])}",),
    )


def judge(params: Params, seen: ServerSessionObservation, lab: LabSpec) -> Verdict:
    problem = unreachable(seen.listen, seen.server, lab)
    if problem is not None:
        return problem
    if seen.peer is None:
        return Verdict(passed=False, summary="the server stopped before the grader's client ran")
    connections = seen.peer.connections
    for number, connection in enumerate(connections, start=1):
        problem = connection_problem(connection, number, len(connections))
        if problem is not None:
            if seen.peer.reset_connection is not None:
                problem = Verdict(
                    passed=False,
                    summary=f"after a client reset its connection, {problem.summary}",
                    expected=problem.expected,
                    received=problem.received,
                    cause="A client that resets must not stop the server: catch"
                    " ConnectionResetError around that client's recv() and sendall(), close"
                    " its socket and accept() the next.",
                    details=problem.details,
                )
            return problem
    size = connections[0].sent_bytes
    clients = f" for {len(connections)} clients" if len(connections) > 1 else ""
    return Verdict(passed=True, summary=f"{size} bytes echoed exactly{clients}")


KIND = CheckKind(
    name="server_echo",
    description="Every byte the grader's client sends comes back in order, unchanged.",
    params=Params,
    scenario=lambda params: ServerSession(params.reference_client),
    judge=judge,
    needs=("server",),
)
