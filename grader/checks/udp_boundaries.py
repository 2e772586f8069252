"""udp_boundaries: each datagram sent gets one reply of the same size and payload, in order."""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.checks.base import CheckKind, Verdict
from grader.checks.diagnosis import elided, listen_problem, shown
from grader.checks.packets import udp_conversation
from grader.packets.ladder import ladder
from grader.packets.model import Conversation, UdpFlow
from grader.scenarios.model import UdpPeerReport, UdpServerSession, UdpServerSessionObservation
from grader.spec.model import Input, LabSpec, Payload, ReferenceUdpClient, doc


@dataclass(frozen=True)
class Params:
    reference_udp_client: ReferenceUdpClient = field(
        default_factory=lambda: ReferenceUdpClient(
            send=(Input(text=Payload(b"first")), Input(text=Payload(b"second")))
        ),
        metadata=doc("What the grader's UDP client sends; by default two datagrams at once."),
    )


def judge(params: Params, seen: UdpServerSessionObservation, lab: LabSpec) -> Verdict:
    peer = seen.peer
    if peer is not None and peer.flooded and listen_problem(seen.listen, seen.server, lab) is None:
        return flood(peer)  # the peer's count is the evidence; no capture needed
    conversation = udp_conversation(seen, lab)
    if isinstance(conversation, Verdict):
        return conversation
    port = seen.listen.expected_port if seen.listen else 0
    flows = conversation.udp_to(port)
    if not flows:
        return Verdict(passed=False, summary="no datagram reached the server's port")
    verdicts = [boundaries(conversation, flow) for flow in flows]
    failed = next((v for v in verdicts if not v.passed), None)
    if failed is not None:
        return failed
    if len(flows) > 1:
        return Verdict(
            passed=True,
            summary=f"{len(flows)} clients each got their own replies, boundaries kept",
            diagram=verdicts[0].diagram,
        )
    return verdicts[0]


def flood(peer: UdpPeerReport) -> Verdict:
    """The server answered with far more datagrams than it was sent: the client stopped."""
    requests = len(peer.sent)
    one = "one datagram" if requests == 1 else f"{requests} datagrams"
    copies = sum(1 for reply in peer.replies if reply in peer.sent)
    what = "copies of the request" if copies == len(peer.replies) else "replies"
    return Verdict(
        passed=False,
        summary=f"your server answered {one} with {peer.replies_total} replies",
        expected=f"{requests} " + ("reply" if requests == 1 else "replies") + ", one per datagram",
        received=f"{peer.replies_total} {what}, still coming when the grader's client stopped"
        " counting",
        cause="Send one reply per datagram received: call sendto() once, then go back to"
        " recvfrom() for the next datagram instead of sending again in a loop.",
    )


def boundaries(conversation: Conversation, flow: UdpFlow) -> Verdict:
    requests = flow.sent("to_server")
    replies = flow.sent("to_client")
    sizes = elided([str(len(d)) for d in requests])
    expected = f"{len(requests)} replies, sized {sizes} bytes, each equal to its request"
    received = f"{len(replies)} replies, sized {elided([str(len(d)) for d in replies]) or '-'}"
    reply_segments = [d for d in flow.datagrams if d.direction == "to_client"]
    if len(replies) < len(requests) and sum(map(len, replies)) == sum(map(len, requests)):
        cause = "Replies were merged: send one datagram back per datagram received, right away."
    elif len(replies) > len(requests):
        cause = "Replies were split: one sendto() per reply, with the whole payload."
    elif len(replies) < len(requests):
        cause = "Some datagrams got no reply: answer every datagram, not only the first."
    else:
        mismatch = next(
            (i for i, (a, b) in enumerate(zip(requests, replies, strict=True)) if a != b), None
        )
        if mismatch is None:
            return Verdict(
                passed=True,
                summary=f"{len(requests)} datagrams, {len(replies)} replies, boundaries kept",
                diagram=ladder(conversation, flow.client, {}),
            )
        return Verdict(
            passed=False,
            summary=f"reply {mismatch + 1} differs from its request",
            expected=shown(requests[mismatch]),
            received=shown(replies[mismatch]),
            cause="Send back exactly the bytes received: recvfrom() with a buffer as large as"
            " the largest datagram (65535), and no decoding or stripping.",
            diagram=ladder(
                conversation, flow.client, {reply_segments[mismatch].packet.number: "differs"}
            ),
        )
    return Verdict(
        passed=False,
        summary="the replies do not match the datagrams one to one",
        expected=expected,
        received=received,
        cause=cause,
        diagram=ladder(conversation, flow.client, {}),
    )


KIND = CheckKind(
    name="udp_boundaries",
    description="N datagrams sent produce N replies, each the size and payload of its request.",
    params=Params,
    scenario=lambda params: UdpServerSession(params.reference_udp_client),
    judge=judge,
    needs=("server",),
    captures=True,
)
