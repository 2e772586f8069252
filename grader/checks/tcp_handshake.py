"""tcp_handshake: the capture shows a complete three-way handshake with the student's server."""

from __future__ import annotations

from pydantic import Field

from grader.checks.base import CheckKind, Verdict
from grader.checks.diagnosis import program_problem
from grader.checks.listening import refused_cause, refused_mark
from grader.checks.packets import diagram, flow_to, no_capture
from grader.scenarios.model import ServerSession, ServerSessionObservation
from grader.spec.model import LabSpec, ReferenceClient, spec_dataclass


@spec_dataclass
class Params:
    reference_client: ReferenceClient = Field(
        default_factory=ReferenceClient,
        description="What the grader's client does once connected.",
    )


def judge(params: Params, seen: ServerSessionObservation, lab: LabSpec) -> Verdict:
    problem = program_problem(seen.server, lab)
    if problem is not None and seen.peer is None:
        return problem
    if seen.capture is None:
        return no_capture()
    port = seen.listen.expected_port if seen.listen else 0
    conversation = seen.capture.conversation
    flow = flow_to(conversation, port)
    if flow is None or flow.handshake.syn is None:
        return Verdict(
            passed=False,
            summary="no SYN reached the server on SERVER_PORT",
            expected="SYN, SYN-ACK, ACK",
            received="no connection attempt in the capture",
            cause="The server was not running when the grader's client tried to connect.",
            diagram=diagram(conversation, flow, {}),
        )
    handshake = flow.handshake
    if handshake.complete:
        return Verdict(
            passed=True,
            summary="SYN, SYN-ACK, ACK: the three-way handshake completed",
            diagram=diagram(conversation, flow, {}),
        )
    if handshake.reset_reply is not None:
        return Verdict(
            passed=False,
            summary="the server's machine answered the SYN with RST",
            expected="SYN-ACK in reply to SYN",
            received=f"RST: nothing listens on port {port} for this client",
            cause=refused_cause(seen.listen),
            diagram=diagram(
                conversation,
                flow,
                {handshake.reset_reply.number: f"port closed: {refused_mark(seen.listen)}"},
            ),
        )
    last_syn = [s.packet for s in flow.segments if s.direction == "to_server"][-1]
    return Verdict(
        passed=False,
        summary="the SYN was never answered",
        expected="SYN-ACK in reply to SYN",
        received="no SYN-ACK (the grader's client sent SYN again, then gave up)",
        cause="Nothing accepted the connection: the listening socket's queue was full (the"
        " server never calls accept()), or the traffic was filtered.",
        diagram=diagram(conversation, flow, {last_syn.number: "no SYN-ACK"}),
    )


KIND = CheckKind(
    name="tcp_handshake",
    description="The capture shows a complete three-way handshake with the server.",
    params=Params,
    scenario=lambda params: ServerSession(params.reference_client),
    judge=judge,
    needs=("server",),
    captures=True,
    judges_packets=True,
    server_protocol="tcp",
)
