"""tcp_close: the capture shows the connection ending the way the spec asks.

graceful: the student's program sent FIN, before the grader's peer gave up waiting for it,
and no RST. A FIN or RST of the grader's own peer is never held against the program: the
peer closes when its time runs out, and its kernel then refuses (RST) what still arrives.
half_close: the client's FIN came first and the server still sent data after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from grader.checks.base import CheckKind, Verdict
from grader.checks.diagnosis import program_problem, unreachable
from grader.checks.packets import ABORTIVE_CLOSE, diagram, first_reset, flow_to, no_capture
from grader.packets.model import FIN, RST, Conversation, Direction, Segment, TcpFlow
from grader.scenarios.model import (
    ClientSession,
    ClientSessionObservation,
    ProgramRun,
    Scenario,
    ServerSession,
    ServerSessionObservation,
)
from grader.spec.model import Input, LabSpec, ReferenceClient, ReferenceServer, spec_dataclass

STOP_ALLOWANCE_S = 3.0
"""A FIN this close to the moment the grader stopped the program is the stop's own close."""


@spec_dataclass
class Params:
    mode: Literal["graceful", "half_close"] = Field(
        default="graceful",
        description="graceful: FIN from each side, no RST. half_close: the client's FIN first, and"
        " data from the server after it.",
    )
    program: Literal["server", "client"] = Field(
        default="server", description="Whose close is graded: the student's server or client."
    )
    reference_client: ReferenceClient = Field(
        default_factory=ReferenceClient,
        description="With program: server, what the grader's client does.",
    )
    reference_server: ReferenceServer = Field(
        default_factory=ReferenceServer,
        description="With program: client, what the grader's server does.",
    )
    stdin: Input | None = Field(
        default=None, description="With program: client, the client's standard input."
    )


@dataclass(frozen=True)
class Closing:
    """Whose close is judged, and what the grader's own peer did meanwhile."""

    side: Literal["server", "client"]
    run: ProgramRun
    peer_gave_up: bool
    """The grader's client stopped waiting for the close (its read timeout ran out)."""
    waited_s: float
    """How long the grader's client waits for the close, in seconds."""
    sent_nothing: bool
    """The student's server sent the grader's client nothing at all."""

    @property
    def peer(self) -> str:
        return "the grader's client" if self.side == "server" else "the grader's server"

    @property
    def own(self) -> Direction:
        """The direction of the student's program's packets."""
        return "to_client" if self.side == "server" else "to_server"

    @property
    def other(self) -> Direction:
        return "to_server" if self.side == "server" else "to_client"


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
        refused = (
            unreachable(seen.listen, seen.server, lab)
            if isinstance(seen, ServerSessionObservation)
            else None
        )
        return Verdict(
            passed=False,
            summary=refused.summary if refused else "not checked, because no connection was made",
            cause="Fix the connection first (see the handshake and listening checks).",
            diagram=diagram(conversation, flow, {}),
        )
    if params.mode == "half_close":
        return half_close(conversation, flow, program, lab)
    peer = seen.peer if isinstance(seen, ServerSessionObservation) else None
    closing = Closing(
        side=params.program,
        run=program,
        peer_gave_up=peer is not None and peer.first.end == "timeout",
        waited_s=params.reference_client.read_timeout_s,
        sent_nothing=peer is not None and peer.first.received_bytes == 0,
    )
    return graceful(conversation, flow, closing)


def graceful(conversation: Conversation, flow: TcpFlow, closing: Closing) -> Verdict:
    """FIN from the student's program, before its peer gave up waiting, and no RST from it."""
    side = closing.side
    marks = peer_marks(flow, closing)
    reset = first_reset(flow)
    if reset is not None and reset[1] == side:
        number = reset[0]
        return Verdict(
            passed=False,
            summary=f"the {side} reset the connection instead of closing it",
            expected="an orderly close: FIN from each side",
            received=f"a reset (RST) from the {side}",
            cause=f"An abortive close: the {side} closed with unread data or with SO_LINGER 0;"
            " close with close() after sendall(), having read what the other side sent.",
            diagram=diagram(
                conversation, flow, {**marks, number: ABORTIVE_CLOSE.format(who=f"the {side}")}
            ),
        )
    own_fin = flow.first(FIN, closing.own)
    peer_fin = flow.first(FIN, closing.other)
    late = (
        own_fin is not None
        and peer_fin is not None
        and closing.peer_gave_up
        and peer_fin.packet.number < own_fin.packet.number
    )
    if own_fin is None or late:
        return not_closed(conversation, flow, closing, marks, own_fin)
    return Verdict(
        passed=True,
        summary=f"FIN from the {side}, no RST from it: an orderly close",
        diagram=diagram(conversation, flow, marks),
    )


def peer_marks(flow: TcpFlow, closing: Closing) -> dict[int, str]:
    """Notes on the grader's own FIN and RST after it gave up, so nobody reads them as faults."""
    if not closing.peer_gave_up:
        return {}
    marks: dict[int, str] = {}
    peer_fin = flow.first(FIN, closing.other)
    if peer_fin is not None:
        marks[peer_fin.packet.number] = (
            f"{closing.peer} gave up after {closing.waited_s:g} s and closed"
        )
    peer_reset = flow.first(RST, closing.other)
    if peer_reset is not None:
        marks[peer_reset.packet.number] = (
            f"{closing.peer} had closed: its kernel refused what came after"
        )
    return marks


def not_closed(
    conversation: Conversation,
    flow: TcpFlow,
    closing: Closing,
    marks: dict[int, str],
    own_fin: Segment | None,
) -> Verdict:
    """The student's program kept the connection open while the grader's peer waited."""
    side = closing.side
    waited = (
        f" while {closing.peer} waited {closing.waited_s:g} s for it"
        if closing.peer_gave_up
        else ""
    )
    received = f"no FIN from the {side}" + (
        f" before {closing.peer} gave up and closed" if closing.peer_gave_up else ""
    )
    if own_fin is not None and closing.run.timed_out:
        received += f"; its FIN came only when the grader stopped the {side}"
        marks = {**marks, own_fin.packet.number: f"the {side} was stopped by the grader"}
    elif own_fin is not None:
        received += f"; its FIN came only after that, in answer to {closing.peer}'s"
    if side == "server" and closing.sent_nothing:
        cause = (
            "The server sent nothing and kept the connection open: it waits for data the"
            " client never sends (the protocol says the server speaks first; see the check on"
            " what it sends). Send, then close the connection socket."
        )
    else:
        cause = (
            "Close the connection socket (conn.close(), or leave its `with` block) once the"
            f" exchange is done: {closing.peer} reads until the {side} closes, so it waits as"
            " long as the connection stays open."
        )
    return Verdict(
        passed=False,
        summary=f"the {side} did not close the connection{waited}",
        expected=f"an orderly close: FIN from the {side} once it has sent everything",
        received=received,
        cause=cause,
        diagram=diagram(conversation, flow, marks),
    )


def closed_by_the_stop(flow: TcpFlow, fin: Segment, run: ProgramRun, lab: LabSpec) -> bool:
    """Whether the program's FIN came when the grader stopped it, not from its own close.

    The program ran `elapsed_s` before it was stopped, and connected soon after it started;
    a FIN that long after its SYN (less STOP_ALLOWANCE_S) is the stop's.
    """
    if not run.timed_out:
        return False
    syn = flow.handshake.syn
    ran_s = run.elapsed_s if run.elapsed_s is not None else lab.timeouts.run_s
    start_s = syn.time_s if syn is not None else 0.0
    return fin.packet.time_s - start_s >= ran_s - STOP_ALLOWANCE_S


def half_close(conversation: Conversation, flow: TcpFlow, run: ProgramRun, lab: LabSpec) -> Verdict:
    client_fin = flow.first(FIN, "to_server")
    server_fin = flow.first(FIN, "to_client")
    expected = "the client's FIN first, then the server's data, then the server's FIN"
    if client_fin is not None and closed_by_the_stop(flow, client_fin, run, lab):
        return Verdict(
            passed=False,
            summary="the client never shut down its sending side: it was still running after"
            f" {lab.timeouts.run_s:g} s, waiting, and was stopped by the grader",
            expected=expected,
            received="no FIN from the client until the grader stopped it",
            cause="The grader's echo server holds the echo until the client's FIN, so both"
            " waited; against an echo server that answers as the bytes come you would see the"
            " echo and then wait forever, since that server closes only after your FIN: after"
            " sending everything, call sock.shutdown(socket.SHUT_WR), then read the reply until"
            " recv() returns b''.",
            diagram=diagram(
                conversation,
                flow,
                {client_fin.packet.number: "the client was stopped by the grader"},
            ),
        )
    if client_fin is None:
        stopped = (
            f": it was still running after {lab.timeouts.run_s:g} s and was stopped by the grader"
            if run.timed_out
            else ""
        )
        return Verdict(
            passed=False,
            summary=f"the client never shut down its sending side{stopped}",
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
    judges_packets=True,
    server_protocol=lambda params: "tcp" if params.program == "server" else None,
)
