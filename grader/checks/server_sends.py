"""server_sends: the student's server sends exactly the expected bytes, then closes.

What the server sent is what the grader's client received, except when the connection ended
in a reset: a reset can overtake the client's reading (the client's socket reports the reset
instead of the data), so then the bytes that crossed the wire, from the capture of the
server's traffic, are judged.
"""

from __future__ import annotations

from pydantic import Field

from grader.checks.base import CheckKind, Verdict, passed
from grader.checks.diagnosis import bytes_text, shown, size_text, unreachable
from grader.checks.listening import refused_cause
from grader.checks.packets import flow_to
from grader.scenarios.model import Connection, ServerSession, ServerSessionObservation
from grader.spec.model import LabSpec, Payload, ReferenceClient, spec_dataclass


@spec_dataclass
class Params:
    expect: Payload = Field(description="The exact bytes the server must send.")
    reference_client: ReferenceClient = Field(
        default=ReferenceClient(), description="What the grader's client does once connected."
    )


WHOLE_SEND_BYTES = 64 * 1024
"""A blocking send() of at most this many bytes on a new connection queues all of them (the
socket's send buffer holds them): a shorter greeting followed by an orderly close was
written that way."""


def likely_cause(expected: bytes, received: bytes) -> str:
    """One sentence naming why a server that sent `received` (all it sent, as far as the
    grader's client and the capture saw) before it ended the connection did not send
    `expected`."""
    if received.rstrip(b"\r\n") == expected and received != expected:
        return "The server sends a line ending the protocol does not have: send the bytes alone."
    if received and expected.startswith(received):
        missing = expected[len(received) :]
        if len(expected) <= WHOLE_SEND_BYTES:
            return (
                f"The message in the server's code ends early: it lacks the last"
                f" {bytes_text(len(missing))}, {shown(missing)} (one send() of a message this"
                " short sends all of it); send exactly the bytes the lab's README gives."
            )
        return "The server stopped sending part-way: use sendall(), which sends every byte."
    if not received:
        return "The server closed the connection without sending anything: call sendall()."
    if received.lower() == expected.lower():
        return "Upper and lower case differ: the protocol is exact, byte for byte."
    return "Send exactly the bytes the lab's README gives, with nothing before or after."


def on_the_wire(seen: ServerSessionObservation) -> bytes | None:
    """What the server sent on the grader's connection, from the capture; None without one.

    Retransmissions are left out; a capture cut at its size limit gives what came before.
    """
    if seen.capture is None or seen.listen is None:
        return None
    flow = flow_to(seen.capture.conversation, seen.listen.expected_port)
    if flow is None or not flow.handshake.complete:
        return None
    return flow.data("to_client")


def judge(params: Params, seen: ServerSessionObservation, lab: LabSpec) -> Verdict:
    problem = unreachable(seen.listen, seen.server, lab)
    if problem is not None:
        return problem
    peer = seen.peer
    if peer is None or not peer.connected:
        return not_connected(seen)
    first = peer.first
    received, lost_to_reset = first.received, False
    if first.end == "rst":
        wire = on_the_wire(seen)
        if wire is not None and len(wire) > len(received):
            received, lost_to_reset = wire, True
    # The client keeps only the first part of what it received: equal means kept whole.
    whole = lost_to_reset or first.received_bytes <= len(first.received)
    if whole and received == params.expect:
        if lost_to_reset:
            return passed(
                f"sent exactly {shown(params.expect)} (seen on the wire: the server's reset"
                " reached the grader's client before it had read them)"
            )
        return passed(f"sent exactly {shown(params.expect)}")
    if first.end == "flood":
        return Verdict(
            passed=False,
            summary=f"your server kept sending: {size_text(first.received_bytes)} and more,"
            f" where {bytes_text(len(params.expect))} were expected",
            expected=shown(params.expect),
            received=f"{shown(first.received[:80])} ... still coming when the grader stopped"
            " reading",
            cause="Send the message once, then close the connection; a send in a loop that"
            " never ends floods the client.",
        )
    if first.end == "timeout" and params.expect.startswith(received):
        return waited(params, first)
    return Verdict(
        passed=False,
        summary="the server sent different bytes",
        expected=shown(params.expect),
        received=shown(received),
        cause=likely_cause(params.expect, received),
    )


def not_connected(seen: ServerSessionObservation) -> Verdict:
    """The grader's client could not connect, though the server listened: say what it saw."""
    error = seen.peer.connect_error if seen.peer is not None else None
    if error is not None and "refused" in error.lower():
        cause = refused_cause(seen.listen)
    elif error is not None and "timed out" in error.lower():
        cause = (
            "Nothing accepted the connection while the grader's client waited: see the"
            " handshake check."
        )
    else:
        cause = "The server stopped before the grader's client could connect."
    return Verdict(
        passed=False,
        summary="no connection was made, so nothing was received"
        + (f" ({error})" if error else ""),
        cause=cause,
    )


def waited(params: Params, connection: Connection) -> Verdict:
    """The grader's client gave up waiting: the server sent too little and kept the connection.

    The connection was still open when the client stopped, so nothing here was closed or
    reset by the server; the cause is what the server was waiting for.
    """
    wait_s = params.reference_client.read_timeout_s
    received = connection.received
    if not received:
        sent_by_client = params.reference_client.send.build()
        return Verdict(
            passed=False,
            summary=f"the server sent nothing: the grader's client waited {wait_s:g} s for"
            " the greeting, and the connection was still open when it gave up",
            expected=shown(params.expect),
            received=f"nothing in {wait_s:g} s (the server neither sent nor closed)",
            cause=(
                "The server waits for data the client never sends: the protocol says the"
                " server speaks first, so call sendall() right after accept(), before any"
                " recv()."
                if not sent_by_client
                else "The server waits for something that never comes: send the reply as soon"
                " as the request has arrived."
            ),
        )
    return Verdict(
        passed=False,
        summary=f"the server sent {size_text(len(received))} of {len(params.expect)}, then"
        f" nothing more for {wait_s:g} s; the connection was still open when the grader's"
        " client gave up",
        expected=shown(params.expect),
        received=shown(received),
        cause="The server stopped sending part-way and waits for something: send the whole"
        " message with one sendall().",
    )


KIND = CheckKind(
    name="server_sends",
    description="The server sends exactly the expected bytes over the connection.",
    params=Params,
    scenario=lambda params: ServerSession(params.reference_client),
    judge=judge,
    needs=("server",),
    captures=True,  # a reset can take the bytes from the client: then the wire says
    server_protocol="tcp",
)
