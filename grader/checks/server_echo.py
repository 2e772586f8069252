"""server_echo: every byte the reference client sends comes back, in order, unchanged."""

from __future__ import annotations

from dataclasses import replace

from pydantic import Field

from grader.checks.base import CheckKind, Verdict
from grader.checks.byte_causes import byte_cause, difference_window
from grader.checks.diagnosis import (
    bytes_text,
    died_of_crash,
    rate_text,
    shown,
    size_text,
    unreachable,
)
from grader.scenarios.model import (
    Connection,
    ProgramRun,
    ServerSession,
    ServerSessionObservation,
)
from grader.spec.model import LabSpec, ReferenceClient, spec_dataclass


@spec_dataclass
class Params:
    reference_client: ReferenceClient = Field(
        description="What the grader's client sends; it half-closes and reads the echo.",
    )
    requires_close: bool = Field(
        default=False,
        description="The server must also close the connection (FIN) once the client has"
        " half-closed;"
        " otherwise only the bytes are judged, and a complete echo passes however the"
        " connection ends.",
    )


STALLED_S = 2.0
"""A connection whose last byte came longer than this before its time ran out had stalled."""


def connection_problem(
    connection: Connection, number: int, of: int, params: Params, expected: bytes
) -> Verdict | None:
    """Why one connection's echo failed, in words; None when it passed.

    `expected` is what the grader's client sent on it.
    """
    which = f"client {number} of {of}" if of > 1 else "the client"
    if not connection.connected:
        return Verdict(
            passed=False,
            summary=f"{which} could not connect",
            received=connection.connect_error,
            cause="After one client the server must accept() the next: loop around accept().",
        )
    if connection.echoed:
        if connection.end == "fin" or not params.requires_close:
            return None
        return not_closed(connection, which)
    if connection.end == "flood" or (
        connection.end == "timeout" and connection.received_bytes > connection.delivered_bytes
    ):  # a slow flood runs out of time before it reaches the client's limit
        return flood(connection, which)
    if connection.end == "rst" and connection.received_bytes == 0:
        return Verdict(
            passed=False,
            summary=f"{which}: the connection was reset before anything came back",
            expected=f"{size_text(connection.sent_bytes)} back, then an orderly close",
            received="a reset (RST) and no data",
            cause="The server closed the connection, or its listening socket by exiting, with"
            " this client waiting: serve each client in turn, in a loop around accept().",
        )
    if connection.end == "timeout":
        problem = too_slow_or_silent(connection, which, params.reference_client.read_timeout_s)
        if problem is not None:
            return problem
    return not_exact(connection, which, expected)


def not_exact(connection: Connection, which: str, expected: bytes) -> Verdict:
    """The bytes that came back are not the ones sent: fewer, more, or changed."""
    cause = byte_cause(expected, connection.received, connection.received_bytes, "server")
    if cause is None and connection.received_bytes < connection.sent_bytes:
        cause = (
            "The server stopped echoing: keep calling recv() until it returns b'' (the"
            " client's half-close), and send back each piece with sendall()."
            if connection.end == "timeout"
            else "Part of the data never came back: a single recv() gets only part of a stream,"
            " and send() may send only part of a buffer; loop on recv() and use sendall()."
        )
    offset = connection.first_difference
    window = (
        difference_window(expected, connection.received, offset)
        if offset is not None and offset <= len(connection.received)
        else ()
    )
    return Verdict(
        passed=False,
        summary=f"{which}: the echo was not exact",
        expected=f"{size_text(connection.sent_bytes)} back, identical",
        received=(
            f"{size_text(connection.received_bytes)}, end: {connection.end}"
            + (f", first difference at byte {offset}" if offset is not None else "")
        ),
        cause=cause
        or "The bytes changed on the way: send back exactly what recv() returned, with no"
        " decoding, stripping or added newline.",
        details=window or (f"first bytes received: {shown(connection.received[:80])}",),
    )


def not_closed(connection: Connection, which: str) -> Verdict:
    """Every byte came back, but the server did not close after the client's half-close."""
    echoed = f"all {size_text(connection.sent_bytes)} back"
    if connection.end == "rst":
        return Verdict(
            passed=False,
            summary=f"{which}: the server reset the connection after the echo instead of"
            " closing it",
            expected=f"{echoed}, then the server's FIN (an orderly close)",
            received=f"{echoed}, then a reset (RST)",
            cause="An abortive close: close the connection with close() once recv() has"
            " returned b'', without SO_LINGER 0 and with nothing left unread.",
        )
    return Verdict(
        passed=False,
        summary=f"{which}: the server never closed the connection after the client's FIN",
        expected=f"{echoed}, then the server's FIN (an orderly close)",
        received=f"{echoed}, then no FIN for {connection.idle_s:.0f} s after the last byte",
        cause="When recv() returns b'' the client has half-closed (its FIN): close that"
        " connection (conn.close(), or leave its with block), then accept() the next client."
        " The client reads until the server closes, so it waits for ever otherwise.",
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
        summary=f"{which}: your server kept sending {when}"
        f" ({bytes_text(extra)} more than it received)",
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
    expected = params.reference_client.send.build()
    total = len(connections) + seen.peer.skipped
    for number, connection in enumerate(connections, start=1):
        problem = connection_problem(connection, number, total, params, expected)
        if problem is not None:
            reset_first = seen.peer.reset_connection is not None
            after_another = number > 1 or reset_first
            if after_another and unserved(connection) and ended_on_its_own(seen.server):
                problem = not_served(connection, number, total, expected)
            return after_reset(problem, connection, reset_first, seen.server)
    if seen.peer.skipped:
        return Verdict(
            passed=False,
            summary=f"only {len(connections)} of {total} clients could be tried",
            expected=f"{total} clients served one after another",
            received=f"client {len(connections)} was still waiting for the server to close",
            cause="Close each connection once recv() returns b'', then accept() the next.",
        )
    size = connections[0].sent_bytes
    clients = f" for {len(connections)} clients" if len(connections) > 1 else ""
    return Verdict(passed=True, summary=f"{size} bytes echoed exactly{clients}")


def unserved(connection: Connection) -> bool:
    """Nothing of the server's reached the connection: refused, or reset before any byte."""
    return not connection.connected or (connection.end == "rst" and connection.received_bytes == 0)


def ended_on_its_own(server: ProgramRun) -> bool:
    """The server program ended before the grader stopped it."""
    return server.ended_before_sigterm or (
        server.exit_code is not None and not server.stopped_by_signal and not server.timed_out
    )


def not_served(connection: Connection, number: int, of: int, expected: bytes) -> Verdict:
    """A client after the first found a server that had ended.

    Whether it was refused or reset depends on how soon it came after the server's last
    moments: a connection made while the exiting server still had its listening socket is
    completed by the kernel, then reset when that socket closes. Both are this one lesson,
    said the same way whichever came first.
    """
    which = f"client {number} of {of}" if of > 1 else "the client"
    return Verdict(
        passed=False,
        summary=f"{which} was not served: the server had ended",
        expected=f"{size_text(len(expected))} back, then an orderly close",
        received=(
            f"no connection ({connection.connect_error})"
            if not connection.connected
            else "a reset (RST) before any data: the server's listening socket closed"
        ),
        cause="After one client the server must accept() the next: loop around accept().",
    )


def after_reset(
    problem: Verdict, connection: Connection, reset_first: bool, server: ProgramRun
) -> Verdict:
    """A connection's problem, said as coming after the client that reset, if there was one.

    The reset is blamed for the next client going unserved only when the server ended with
    an error (a traceback, a non-zero status); one that ended cleanly served one client only.
    """
    if not reset_first:
        return problem
    problem = replace(problem, summary=f"after a client reset its connection, {problem.summary}")
    if not unserved(connection):
        return problem
    stopped = server.stopped_by_signal  # ran until the grader's SIGTERM: it did not end here
    ended_with_error = died_of_crash(server) is not None or (
        server.exit_code not in (None, 0) and not stopped
    )
    if ended_with_error:
        cause = (
            "A client that resets must not stop the server: catch ConnectionResetError around"
            " that client's recv() and sendall(), close its socket and accept() the next."
        )
    elif stopped:
        cause = (
            "The server still ran but did not accept the next client: after a client resets,"
            " close its socket and go back to accept()."
        )
    else:
        cause = (
            "The server ended cleanly after the client that reset, so the next one found"
            " nothing: loop around accept() to serve one client after another."
        )
    return replace(problem, cause=cause)


KIND = CheckKind(
    name="server_echo",
    description="Every byte the grader's client sends comes back in order, unchanged.",
    params=Params,
    scenario=lambda params: ServerSession(params.reference_client),
    judge=judge,
    needs=("server",),
    server_protocol="tcp",
)
