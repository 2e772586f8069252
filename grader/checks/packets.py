"""What the packet-level checks share: finding the flow under test and naming its faults."""

from __future__ import annotations

from typing import Literal

from grader.checks.base import Verdict
from grader.checks.diagnosis import listen_problem
from grader.packets.ladder import ladder
from grader.packets.model import RST, Conversation, TcpFlow
from grader.scenarios.model import (
    UdpServerSessionObservation,
)
from grader.spec.model import LabSpec

Program = Literal["server", "client"]

ABORTIVE_CLOSE = "abortive close: {who} closed with unread data or SO_LINGER 0"


def no_capture() -> Verdict:
    return Verdict(passed=False, summary="no packet capture was made for this check")


def udp_conversation(seen: UdpServerSessionObservation, lab: LabSpec) -> Verdict | Conversation:
    """The captured conversation of a UDP server check, or why there is none to judge."""
    problem = listen_problem(seen.listen, seen.server, lab)
    if problem is not None:
        return problem
    if seen.capture is None:
        return no_capture()
    return seen.capture.conversation


def flow_to(conversation: Conversation, port: int) -> TcpFlow | None:
    flows = conversation.tcp_to(port)
    return flows[0] if flows else None


def diagram(
    conversation: Conversation, flow: TcpFlow | None, marks: dict[int, str]
) -> tuple[str, ...]:
    return ladder(conversation, flow.client if flow else None, marks)


def first_reset(flow: TcpFlow) -> tuple[int, str] | None:
    """The first RST after the handshake and which side sent it."""
    for segment in flow.segments:
        if segment.packet.has(RST):
            side = "server" if segment.direction == "to_client" else "client"
            return segment.packet.number, side
    return None
