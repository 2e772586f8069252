"""udp_only: in the capture, the student's server spoke UDP only, never TCP."""

from __future__ import annotations

from pydantic import Field

from grader.checks.base import CheckKind, Verdict
from grader.checks.packets import udp_conversation
from grader.packets.ladder import ladder
from grader.scenarios.model import UdpServerSession, UdpServerSessionObservation
from grader.spec.model import LabSpec, ReferenceUdpClient, spec_dataclass


@spec_dataclass
class Params:
    reference_udp_client: ReferenceUdpClient = Field(
        default_factory=ReferenceUdpClient, description="What the grader's UDP client sends."
    )


def judge(params: Params, seen: UdpServerSessionObservation, lab: LabSpec) -> Verdict:
    conversation = udp_conversation(seen, lab)
    if isinstance(conversation, Verdict):
        return conversation
    tcp = [p for p in conversation.packets if p.protocol == "tcp"]
    udp = [p for p in conversation.packets if p.protocol == "udp"]
    if tcp:
        return Verdict(
            passed=False,
            summary=f"the capture holds {len(tcp)} TCP packets",
            expected="UDP datagrams only",
            received=f"{len(udp)} UDP datagrams and {len(tcp)} TCP packets",
            cause="This lab is about UDP: create the socket with socket.SOCK_DGRAM and use"
            " sendto()/recvfrom(), no connect() or listen().",
            diagram=ladder(conversation, None, {tcp[0].number: "TCP"}),
        )
    if not udp:
        return Verdict(
            passed=False,
            summary="no UDP traffic was captured",
            expected="the grader's datagrams and the server's replies",
            received="nothing",
        )
    return Verdict(
        passed=True,
        summary=f"{len(udp)} UDP datagrams and no TCP",
        diagram=ladder(conversation, udp[0].source, {}),
    )


KIND = CheckKind(
    name="udp_only",
    description="The capture shows the server's traffic is UDP only, no TCP.",
    params=Params,
    scenario=lambda params: UdpServerSession(params.reference_udp_client),
    judge=judge,
    needs=("server",),
    captures=True,
    judges_packets=True,
    server_protocol="udp",
)
