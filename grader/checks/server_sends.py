"""server_sends: the student's server sends exactly the expected bytes, then closes."""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.checks.base import CheckKind, Verdict, passed
from grader.checks.diagnosis import shown, size_text, unreachable
from grader.scenarios.model import ServerSession, ServerSessionObservation
from grader.spec.model import LabSpec, Payload, ReferenceClient, doc


@dataclass(frozen=True)
class Params:
    expect: Payload = field(metadata=doc("The exact bytes the server must send."))
    reference_client: ReferenceClient = field(
        default=ReferenceClient(), metadata=doc("What the grader's client does once connected.")
    )


def likely_cause(expected: bytes, received: bytes) -> str:
    if received.rstrip(b"\r\n") == expected and received != expected:
        return "The server sends a line ending the protocol does not have: send the bytes alone."
    if received and expected.startswith(received):
        return "The server stopped sending part-way: use sendall(), which sends every byte."
    if not received:
        return "The server closed the connection without sending anything: call sendall()."
    if received.lower() == expected.lower():
        return "Upper and lower case differ: the protocol is exact, byte for byte."
    return "Send exactly the bytes the lab's README gives, with nothing before or after."


def judge(params: Params, seen: ServerSessionObservation, lab: LabSpec) -> Verdict:
    problem = unreachable(seen.listen, seen.server, lab)
    if problem is not None:
        return problem
    peer = seen.peer
    if peer is None or not peer.connected:
        return Verdict(passed=False, summary="no connection was made, so nothing was received")
    first = peer.first
    # The client keeps only the first part of what it received: equal means kept whole.
    whole = first.received_bytes <= len(first.received)
    if whole and first.received == params.expect:
        return passed(f"sent exactly {shown(params.expect)}")
    if first.end == "flood":
        return Verdict(
            passed=False,
            summary=f"your server kept sending: {size_text(first.received_bytes)} and more,"
            f" where {len(params.expect)} bytes were expected",
            expected=shown(params.expect),
            received=f"{shown(first.received[:80])} ... still coming when the grader stopped"
            " reading",
            cause="Send the message once, then close the connection; a send in a loop that"
            " never ends floods the client.",
        )
    return Verdict(
        passed=False,
        summary="the server sent different bytes",
        expected=shown(params.expect),
        received=shown(peer.received),
        cause=likely_cause(params.expect, peer.received),
    )


KIND = CheckKind(
    name="server_sends",
    description="The server sends exactly the expected bytes over the connection.",
    params=Params,
    scenario=lambda params: ServerSession(params.reference_client),
    judge=judge,
    needs=("server",),
)
