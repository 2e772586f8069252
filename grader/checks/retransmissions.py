"""retransmissions: the capture holds at most K retransmitted segments or datagrams."""

from __future__ import annotations

from pydantic import Field

from grader.checks.base import CheckKind, Verdict
from grader.checks.packets import udp_conversation
from grader.packets.ladder import ladder
from grader.packets.model import Conversation
from grader.scenarios.model import UdpServerSession, UdpServerSessionObservation
from grader.spec.model import LabSpec, ReferenceUdpClient, spec_dataclass


@spec_dataclass
class Params:
    at_most: int = Field(
        ge=0, description="How many retransmissions are allowed in the capture, 0 or more."
    )
    reference_udp_client: ReferenceUdpClient = Field(
        default_factory=ReferenceUdpClient, description="What the grader's UDP client sends."
    )


def count(conversation: Conversation) -> tuple[int, list[int]]:
    """How many packets repeat an earlier one in the same direction, and their numbers."""
    numbers = [
        s.packet.number for flow in conversation.tcp for s in flow.segments if s.retransmission
    ]
    numbers += [
        d.packet.number for flow in conversation.udp for d in flow.datagrams if d.retransmission
    ]
    return len(numbers), sorted(numbers)


def judge(params: Params, seen: UdpServerSessionObservation, lab: LabSpec) -> Verdict:
    conversation = udp_conversation(seen, lab)
    if isinstance(conversation, Verdict):
        return conversation
    total, numbers = count(conversation)
    marks = {number: "retransmission" for number in numbers}
    if total <= params.at_most:
        return Verdict(
            passed=True,
            summary=f"{total} retransmissions (at most {params.at_most} allowed)",
            diagram=ladder(conversation, None, marks),
        )
    return Verdict(
        passed=False,
        summary=f"{total} retransmissions, more than the {params.at_most} allowed",
        expected=f"at most {params.at_most} retransmitted datagrams or segments",
        received=f"{total}",
        cause="Retransmit only when the timeout for that packet has passed without its"
        " acknowledgement, and only that packet.",
        diagram=ladder(conversation, None, marks),
    )


KIND = CheckKind(
    name="retransmissions",
    description="The capture holds at most K retransmitted datagrams or segments.",
    params=Params,
    scenario=lambda params: UdpServerSession(params.reference_udp_client),
    judge=judge,
    needs=("server",),
    captures=True,
    judges_packets=True,
    server_protocol="udp",
)
