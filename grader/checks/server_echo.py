"""server_echo: every byte the reference client sends comes back, in order, unchanged."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from grader.checks.base import CheckKind, Verdict
from grader.checks.diagnosis import rate_text, shown, size_text, unreachable
from grader.scenarios.model import Connection, ServerSession, ServerSessionObservation
from grader.spec.model import LabSpec, ReferenceClient, doc


@dataclass(frozen=True)
class Params:
    reference_client: ReferenceClient = field(
        metadata=doc("What the grader's client sends; it half-closes and reads the echo."),
    )


STALLED_S = 2.0
"""A connection whose last byte came longer than this before its time ran out had stalled."""


def connection_problem(
    connection: Connection, number: int, of: int, allowed_s: float
) -> Verdict | None:
    """Why one connection's echo failed, in words; None when it was exact and closed."""
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
    if connection.end == "flood" or (
        connection.end == "timeout" and connection.received_bytes > connection.delivered_bytes
    ):  # a slow flood runs out of time before it reaches the client's limit
        return flood(connection, which)
    if connection.end == "timeout":
        problem = too_slow_or_silent(connection, which, allowed_s)
        if problem is not None:
            return problem
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


def flood(connection: Connection, which: str) -> Verdict:
    """The server sent far more than it was sent: the client stopped reading."""
    extra = connection.extra_bytes
    complete = connection.first_difference is None or (
        connection.first_difference >= connection.delivered_bytes
    )
    when = "after the echo was complete" if complete else "far past what it received"
    return Verdict(
        passed=False,
        summary=f"{which}: your server kept sending {when} ({extra} bytes more than it received)",
        expected=f"{size_text(connection.sent_bytes)} back, then an orderly close",
        received=f"{size_text(connection.received_bytes)} and still coming when the grader's"
        f" client stopped reading, after {connection.elapsed_s:.1f} s",
        cause=(
            "Send back each piece once, right after recv() returns it, then call recv()"
            " again: a loop around sendall() that never reads again sends the same data forever."
            if complete
            else f"The bytes differ from byte {connection.first_difference} on, and far more"
            " came back than was sent: send back exactly what recv() returned, once, with no"
            " decoding or re-encoding, then call recv() again."
        ),
        details=(f"first bytes received: {shown(connection.received[:80])}",),
    )


def too_slow_or_silent(connection: Connection, which: str, allowed_s: float) -> Verdict | None:
    """For a connection whose time ran out: nothing came back, or the echo was too slow."""
    sent, received = connection.sent_bytes, connection.received_bytes
    if received == 0:
        took = (
            f"it took {size_text(connection.delivered_bytes)} of {size_text(sent)} and then"
            " nothing more"
            if connection.delivered_bytes < sent
            else f"it took all {size_text(sent)}"
        )
        return Verdict(
            passed=False,
            summary=f"{which}: nothing came back in {connection.elapsed_s:.0f} s;"
            " nothing accepted the connection or read from it",
            expected=f"{size_text(sent)} back, then an orderly close",
            received=f"nothing ({took})",
            cause="connect() succeeds even when the server never calls accept(), because the"
            " kernel completes the handshake for a listening socket and buffers what arrives;"
            " but nothing was ever read. Call accept(), then recv() in a loop and sendall()"
            " each piece back.",
        )
    prefix_right = connection.first_difference in (None, received)
    if received < sent and prefix_right and connection.idle_s < STALLED_S:
        elapsed = max(connection.elapsed_s, 0.001)
        whole_s = sent / received * elapsed
        return Verdict(
            passed=False,
            summary=f"{which}: your server echoed {size_text(received)} of {size_text(sent)}"
            f" in {elapsed:.0f} s, at {rate_text(received, elapsed)}; the check allows"
            f" {allowed_s:g} s",
            expected=f"all {size_text(sent)} back within {allowed_s:g} s",
            received=f"{size_text(received)}, still coming when the time was up",
            cause=f"At that rate the whole echo would take about {whole_s:.0f} s: recv() with a"
            " large buffer (65536) and send each piece straight back, with no sleep or other"
            " wait in the loop.",
        )
    return None


def judge(params: Params, seen: ServerSessionObservation, lab: LabSpec) -> Verdict:
    problem = unreachable(seen.listen, seen.server, lab)
    if problem is not None:
        return problem
    if seen.peer is None:
        return Verdict(passed=False, summary="the server stopped before the grader's client ran")
    connections = seen.peer.connections
    for number, connection in enumerate(connections, start=1):
        allowed_s = params.reference_client.read_timeout_s
        problem = connection_problem(connection, number, len(connections), allowed_s)
        if problem is not None:
            if seen.peer.reset_connection is not None:
                problem = replace(
                    problem, summary=f"after a client reset its connection, {problem.summary}"
                )
                if not connection.connected:  # the reset stopped the server
                    problem = replace(
                        problem,
                        cause="A client that resets must not stop the server: catch"
                        " ConnectionResetError around that client's recv() and sendall(), close"
                        " its socket and accept() the next.",
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
