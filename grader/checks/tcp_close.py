"""tcp_close: the student's server ends the connection the way the spec asks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from grader.checks.base import CheckKind, Verdict, passed
from grader.checks.diagnosis import unreachable
from grader.scenarios.model import ServerSession, ServerSessionObservation
from grader.spec.model import LabSpec, ReferenceClient, doc


@dataclass(frozen=True)
class Params:
    mode: Literal["graceful"] = field(
        default="graceful", metadata=doc("graceful: the server closes with FIN, not RST.")
    )
    reference_client: ReferenceClient = field(
        default=ReferenceClient(), metadata=doc("What the grader's client does once connected.")
    )


def judge(params: Params, seen: ServerSessionObservation, lab: LabSpec) -> Verdict:
    problem = unreachable(seen.listen, seen.server, lab)
    if problem is not None:
        return problem
    peer = seen.peer
    if peer is None or not peer.connected:
        return Verdict(passed=False, summary="no connection was made, so none was closed")
    if peer.end == "fin":
        return passed("the server closed the connection in an orderly way (FIN)")
    if peer.end == "rst":
        return Verdict(
            passed=False,
            summary="the server reset the connection instead of closing it",
            expected="an orderly close (FIN)",
            received="a reset (RST)",
            cause="An abortive close: the server closed with unread data or with SO_LINGER 0;"
            " close the connection with close() after sendall().",
        )
    return Verdict(
        passed=False,
        summary="the server never closed the connection",
        expected="an orderly close (FIN)",
        received=f"the connection still open after {params.reference_client.read_timeout_s:g} s",
        cause="Close the connection socket (conn.close(), or leave its `with` block) once the"
        " reply is sent.",
    )


KIND = CheckKind(
    name="tcp_close",
    description="The server ends the connection with an orderly close (FIN, not RST).",
    params=Params,
    scenario=lambda params: ServerSession(params.reference_client),
    judge=judge,
    needs=("server",),
)
