"""tcp_close: the capture shows the connection ending the way the spec asks.

graceful: each side sent FIN and nobody sent RST.
half_close: the client's FIN came first and the server still sent data after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from grader.checks.base import CheckKind, Verdict
from grader.checks.diagnosis import program_problem
from grader.checks.packets import ABORTIVE_CLOSE, diagram, first_reset, flow_to, no_capture
from grader.packets.model import FIN, RST, Conversation, TcpFlow
from grader.scenarios.model import (
    ClientSession,
    ClientSessionObservation,
    Scenario,
    ServerSession,
    ServerSessionObservation,
)
from grader.spec.model import Input, LabSpec, ReferenceClient, ReferenceServer, doc


@dataclass(frozen=True)
class Params:
    mode: Literal["graceful", "half_close"] = field(
        default="graceful",
        metadata=doc(
            "graceful: FIN from each side, no RST. half_close: the client's FIN first, and"
            " data from the server after it."
        ),
    )
    program: Literal["server", "client"] = field(
        default="server", metadata=doc("Whose close is graded: the student's server or client.")
    )
    reference_client: ReferenceClient = field(
        default_factory=ReferenceClient,
        metadata=doc("With program: server, what the grader's client does."),
    )
    reference_server: ReferenceServer = field(
        default_factory=ReferenceServer,
        metadata=doc("With program: client, what the grader's server does."),
    )
    stdin: Input | None = field(
        default=None, metadata=doc("With program: client, the client's standard input.")
    )


def scenario(params: Params) -> Scenario:
    if params.program == "client":
        return ClientSession(params.reference_server, params.stdin)
    return ServerSession(params.reference_client)


def judge(
    params: Params, seen: ServerSessionObservation | ClientSessionObservation, lab: LabSpec
) -> Verdict:
    program = seen.server if isinstance(seen, ServerSessionObservation) else seen.client
    problem = program_problem(program, lab)
    if seen.capture is None or (program.missing and problem is not None):
        return problem or no_capture()
    port = (
        seen.listen.expected_port
        if isinstance(seen, ServerSessionObservation) and seen.listen
        else seen.server_port
        if isinstance(seen, ClientSessionObservation)
        else 0
    )
    conversation = seen.capture.conversation
    flow = flow_to(conversation, port)
    if flow is None or not flow.handshake.complete:
        return Verdict(
            passed=False,
            summary="not checked, because no connection was made",
            cause="Fix the connection first (see the handshake and listening checks).",
            diagram=diagram(conversation, flow, {}),
        )
    if params.mode == "half_close":
        return half_close(conversation, flow)
    return graceful(conversation, flow, params.program)


def graceful(conversation: Conversation, flow: TcpFlow, program: str) -> Verdict:
    reset = first_reset(flow)
    if reset is not None:
        number, side = reset
        return Verdict(
            passed=False,
            summary=f"the {side} reset the connection instead of closing it",
            expected="an orderly close: FIN from each side",
            received=f"a reset (RST) from the {side}",
            cause=f"An abortive close: the {side} closed with unread data or with SO_LINGER 0;"
            " close with close() after sendall(), having read what the other side sent.",
            diagram=diagram(conversation, flow, {number: ABORTIVE_CLOSE.format(who=f"the {side}")}),
        )
    server_fin = flow.first(FIN, "to_client")
    client_fin = flow.first(FIN, "to_server")
    if server_fin is None or client_fin is None:
        missing = "server" if server_fin is None else "client"
        return Verdict(
            passed=False,
            summary=f"the {missing} never closed the connection",
            expected="an orderly close: FIN from each side",
            received=f"no FIN from the {missing}",
            cause="Close the connection socket (conn.close(), or leave its `with` block) once"
            " the exchange is done.",
            diagram=diagram(conversation, flow, {}),
        )
    return Verdict(
        passed=True,
        summary="FIN from each side, no RST: an orderly close",
        diagram=diagram(conversation, flow, {}),
    )


def half_close(conversation: Conversation, flow: TcpFlow) -> Verdict:
    client_fin = flow.first(FIN, "to_server")
    server_fin = flow.first(FIN, "to_client")
    expected = "the client's FIN first, then the server's data, then the server's FIN"
    if client_fin is None:
        return Verdict(
            passed=False,
            summary="the client never shut down its sending side",
            expected=expected,
            received="no FIN from the client",
            cause="After sending everything, call sock.shutdown(socket.SHUT_WR): the server"
            " learns there is no more data, and the client can still read the reply.",
            diagram=diagram(conversation, flow, {}),
        )
    if server_fin is not None and server_fin.packet.number < client_fin.packet.number:
        return Verdict(
            passed=False,
            summary="the server closed first",
            expected=expected,
            received="the server's FIN before the client's",
            cause="The client closed only after the server did; shut down the sending side"
            " with shutdown(SHUT_WR) as soon as everything is sent.",
            diagram=diagram(conversation, flow, {server_fin.packet.number: "server closed first"}),
        )
    client_reset = next(
        (
            s
            for s in flow.segments
            if s.direction == "to_server"
            and s.packet.has(RST)
            and s.packet.number > client_fin.packet.number
        ),
        None,
    )
    if client_reset is not None:
        return Verdict(
            passed=False,
            summary="the client closed completely instead of half-closing",
            expected=expected,
            received="the server's data after the client's FIN was refused with RST",
            cause="close() ends both directions, so the reply can no longer arrive: call"
            " sock.shutdown(socket.SHUT_WR) after sending, then read until recv() returns b''.",
            diagram=diagram(
                conversation, flow, {client_reset.packet.number: "the client refused the reply"}
            ),
        )
    after = [
        s
        for s in flow.segments
        if s.direction == "to_client"
        and s.packet.payload
        and s.packet.number > client_fin.packet.number
    ]
    if not after:
        return Verdict(
            passed=False,
            summary="no data flowed back after the client's FIN",
            expected=expected,
            received="the server sent nothing after the client's half-close",
            cause="A half-close ends only one direction: the server should still send its reply"
            " after recv() returns b''.",
            diagram=diagram(conversation, flow, {client_fin.packet.number: "client half-close"}),
        )
    return Verdict(
        passed=True,
        summary="the client half-closed and the server's data still flowed back",
        diagram=diagram(conversation, flow, {client_fin.packet.number: "client half-close"}),
    )


KIND = CheckKind(
    name="tcp_close",
    description="The capture shows the connection closed gracefully or half-closed, as asked.",
    params=Params,
    scenario=scenario,
    judge=judge,
    needs=lambda params: (params.program,),
    captures=True,
)
