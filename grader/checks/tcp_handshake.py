"""tcp_handshake: a client's three-way handshake with the student's server completes."""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.checks.base import CheckKind, Verdict, passed
from grader.checks.diagnosis import unreachable
from grader.scenarios.model import ServerSession, ServerSessionObservation
from grader.spec.model import LabSpec, ReferenceClient, doc


@dataclass(frozen=True)
class Params:
    reference_client: ReferenceClient = field(
        default=ReferenceClient(), metadata=doc("What the grader's client does once connected.")
    )


def judge(params: Params, seen: ServerSessionObservation, lab: LabSpec) -> Verdict:
    problem = unreachable(seen.listen, seen.server, lab)
    if problem is not None:
        return problem
    if seen.peer is None or not seen.peer.connected:
        error = seen.peer.connect_error if seen.peer else "the grader's client did not run"
        return Verdict(
            passed=False,
            summary="the TCP handshake did not complete",
            expected="SYN, SYN-ACK, ACK",
            received=f"connect() failed: {error}",
            cause="The listening socket's queue never took the connection: make sure the server"
            " calls accept() and that nothing else fills its backlog.",
        )
    return passed("the three-way handshake completed")


KIND = CheckKind(
    name="tcp_handshake",
    description="A client's TCP handshake with the server completes.",
    params=Params,
    scenario=lambda params: ServerSession(params.reference_client),
    judge=judge,
    needs=("server",),
)
