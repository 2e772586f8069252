"""udp_boundaries: each datagram sent gets one reply, in order, equal to it (or of its size)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from grader.checks.base import CheckKind, Verdict
from grader.checks.byte_causes import first_difference
from grader.checks.diagnosis import bytes_text, elided, listen_problem, size_text
from grader.checks.packets import udp_conversation
from grader.checks.udp_replies import (
    Pairing,
    joined_requests,
    pair_replies,
    window,
)
from grader.packets.ladder import ladder
from grader.packets.model import Conversation, Packet, UdpFlow
from grader.scenarios.model import UdpPeerReport, UdpServerSession, UdpServerSessionObservation
from grader.spec.model import Input, LabSpec, ReferenceUdpClient, spec_dataclass


@spec_dataclass
class Params:
    reference_udp_client: ReferenceUdpClient = Field(
        default_factory=lambda: ReferenceUdpClient(
            send=(Input(text=b"first"), Input(text=b"second"))
        ),
        description="What the grader's UDP client sends; by default two datagrams at once.",
    )
    compares: Literal["bytes", "sizes"] = Field(
        default="bytes",
        description="bytes: each reply must equal its datagram; sizes: one reply per datagram, in"
        " order, none cut short (a reply that is only its datagram's first part is"
        " truncated); what the bytes are is another check's to judge.",
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
    misdirected = (
        merged_across_clients(conversation, flows)
        or misdirected_replies(conversation, flows)
        or replies_from_elsewhere(conversation, flows)
    )
    if misdirected is not None:
        return misdirected
    verdicts = [boundaries(conversation, flow, params.compares) for flow in flows]
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


def misdirected_replies(conversation: Conversation, flows: tuple[UdpFlow, ...]) -> Verdict | None:
    """A failing verdict when some clients got extra replies and others none: the replies
    went to the wrong address; None otherwise (each flow is then judged on its own)."""
    if len(flows) < 2:
        return None
    tallies = [_tally(pair_replies(f.sent("to_server"), f.sent("to_client"))) for f in flows]
    with_extra = [n for n, tally in enumerate(tallies, start=1) if tally.get("extra")]
    with_missing = [n for n, tally in enumerate(tallies, start=1) if tally.get("missing")]
    if not with_extra or not with_missing:
        return None
    starved = flows[with_missing[0] - 1]
    unanswered = {
        d.packet.number: "no reply" for d in starved.datagrams if d.direction == "to_server"
    }
    return Verdict(
        passed=False,
        summary=f"the replies meant for {_clients(with_missing)} went to {_clients(with_extra)}",
        expected=f"each of the {len(flows)} clients gets the replies to its own datagrams",
        received="; ".join(
            f"client {n}: {_count(len(f.sent('to_server')), 'datagram')} sent,"
            f" {_count(len(f.sent('to_client')), 'reply')}"
            for n, f in enumerate(flows, start=1)
        ),
        cause="Send each reply to the address recvfrom() returned with that datagram"
        " (data, address = sock.recvfrom(...); sock.sendto(data, address)), not to an address"
        " kept from an earlier datagram.",
        diagram=ladder(conversation, starved.client, unanswered),
    )


def merged_across_clients(conversation: Conversation, flows: tuple[UdpFlow, ...]) -> Verdict | None:
    """A failing verdict when one reply holds the datagrams of several clients, joined in the
    order they arrived; None otherwise."""
    if len(flows) < 2:
        return None
    client_of = {flow.client: n for n, flow in enumerate(flows, start=1)}
    arrived = sorted(
        (d.packet for flow in flows for d in flow.datagrams if d.direction == "to_server"),
        key=lambda packet: packet.number,
    )
    payloads = [packet.payload for packet in arrived]
    for n, flow in enumerate(flows, start=1):
        for reply in (d.packet for d in flow.datagrams if d.direction == "to_client"):
            for start in range(len(payloads)):
                joined = joined_requests(reply.payload, payloads, start)
                senders = sorted({client_of[arrived[i].source] for i in joined})
                if len(joined) > 1 and len(senders) > 1:
                    return Verdict(
                        passed=False,
                        summary=f"the datagrams of {_clients(senders)} came back merged into"
                        f" one reply to client {n}",
                        expected=f"each of the {len(flows)} clients gets its own reply",
                        received=f"one reply of {bytes_text(reply.size_bytes)} to client {n},"
                        f" holding {len(joined)} datagrams",
                        cause="Send one datagram back per datagram received, right away and to"
                        " the address it came from, instead of collecting datagrams and"
                        " answering them together.",
                        diagram=ladder(conversation, flow.client, {reply.number: "merged"}),
                    )
    return None


def replies_from_elsewhere(
    conversation: Conversation, flows: tuple[UdpFlow, ...]
) -> Verdict | None:
    """A failing verdict when a client got no reply from the server's port but got datagrams
    from another port of the server's address (a reply sent from a new socket); else None."""
    for flow in flows:
        if flow.sent("to_client") or not flow.sent("to_server"):
            continue
        server_address, server_port = flow.server
        strays = [
            p
            for p in conversation.packets
            if p.protocol == "udp"
            and p.destination == flow.client
            and p.source[0] == server_address
            and p.source[1] != server_port
        ]
        if not strays:
            continue
        ports = sorted({p.source[1] for p in strays})
        shown_ports = elided([str(port) for port in ports], keep=6)
        return Verdict(
            passed=False,
            summary=f"the replies came from another port ({shown_ports}), not from"
            f" SERVER_PORT {server_port}",
            expected=f"replies from {server_address}:{server_port}, where the datagrams went",
            received=f"{_count(len(strays), 'datagram')} from port {shown_ports}",
            cause="A reply sent from a new socket leaves from another port, and a client that"
            " checks who answered (as a pinger must) ignores it: reply with the socket that"
            " received the datagram, sock.sendto(data, address).",
            diagram=ladder(conversation, flow.client, {p.number: "other port" for p in strays}),
        )
    return None


def _tally(pairings: tuple[Pairing, ...]) -> dict[str, int]:
    tally: dict[str, int] = {}
    for pairing in pairings:
        tally[pairing.kind] = tally.get(pairing.kind, 0) + 1
    return tally


def _clients(numbers: list[int]) -> str:
    """ "client 2", "clients 2 and 3", "clients 1, 2 and 4"."""
    if len(numbers) == 1:
        return f"client {numbers[0]}"
    return "clients " + ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"


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


PAIRINGS_SHOWN = 12
"""Lines of the reply-by-reply account in the feedback; the middle of a longer one is elided."""


def boundaries(conversation: Conversation, flow: UdpFlow, compares: str = "bytes") -> Verdict:
    """One flow's verdict: every datagram answered by one reply equal to it (or, comparing
    "sizes", of its size), in order; else the first fault, named, and an account of all."""
    requests = flow.sent("to_server")
    replies = flow.sent("to_client")
    request_packets = [d.packet for d in flow.datagrams if d.direction == "to_server"]
    reply_packets = [d.packet for d in flow.datagrams if d.direction == "to_client"]
    pairings = pair_replies(requests, replies)
    faults = [p for p in pairings if not _acceptable(p, request_packets, reply_packets, compares)]
    if not faults:
        kept = "boundaries kept" if compares == "bytes" else "one whole reply per datagram"
        return Verdict(
            passed=True,
            summary=f"{len(requests)} datagrams, {len(replies)} replies, {kept}",
            diagram=ladder(conversation, flow.client, {}),
        )
    first = faults[0]
    marks: dict[int, str] = {reply_packets[j].number: first.kind for j in first.replies}
    if not first.replies:
        marks = {request_packets[i].number: "no reply" for i in first.requests}
    told = _told(first, requests, replies)
    return Verdict(
        passed=False,
        summary=told.summary,
        expected=told.expected,
        received=told.received,
        cause=told.cause,
        details=(
            *account(pairings, requests, replies, len(faults)),
            *_capture_losses(request_packets + reply_packets),
        ),
        diagram=ladder(conversation, flow.client, marks),
    )


def _acceptable(
    pairing: Pairing, requests: list[Packet], replies: list[Packet], compares: str
) -> bool:
    """Whether a pairing is as it should be: echoed; one reply for one datagram where only
    count, order and size count (a shorter reply that is the datagram's start is truncated);
    or of the right size where the capture itself lost a fragment of either datagram."""
    if pairing.kind == "echoed":
        return True
    if pairing.kind == "changed" and compares == "sizes":
        return True  # one reply for one datagram: its bytes are echo-exact's to judge
    if pairing.kind not in ("changed", "truncated"):
        return False
    (i,), (j,) = pairing.requests, pairing.replies
    request, reply = requests[i], replies[j]
    lost = _incomplete(request) or _incomplete(reply)
    return (compares == "sizes" or lost) and request.size_bytes == reply.size_bytes


def _incomplete(packet: Packet) -> bool:
    return len(packet.payload) < packet.size_bytes


def _capture_losses(packets: list[Packet]) -> tuple[str, ...]:
    lost = [p for p in packets if _incomplete(p)]
    if not lost:
        return ()
    return (
        f"(the capture lost a fragment of {len(lost)} datagram(s), packet"
        f" {', '.join(str(p.number) for p in lost[:5])}: those are judged by the size their"
        " UDP header gives)",
    )


@dataclass(frozen=True)
class _Told:
    summary: str
    expected: str
    received: str
    cause: str


def _told(pairing: Pairing, requests: tuple[bytes, ...], replies: tuple[bytes, ...]) -> _Told:
    """What the student reads about one faulty pairing: sizes as sent, and the likely cause."""
    numbers = [i + 1 for i in pairing.requests]
    sizes = [len(requests[i]) for i in pairing.requests]
    reply_sizes = [len(replies[j]) for j in pairing.replies]
    match pairing.kind:
        case "missing":
            which = _datagrams(numbers, sizes)
            empty = any(size == 0 for size in sizes)
            return _Told(
                summary=f"{which} got no reply",
                expected=f"a reply to every datagram ({_count(len(requests), 'datagram')} sent)",
                received=f"{_count(len(replies), 'reply')}; none to {which}",
                cause="An empty datagram is a datagram: recvfrom() returns b'' for it, and it"
                " needs its (empty) reply too; do not skip it with `if not data`."
                if empty
                else "Answer every datagram as it arrives, not only the first ones.",
            )
        case "extra":
            (j,) = pairing.replies
            repeated = requests.index(replies[j]) + 1 if replies[j] in requests else None
            summary = (
                f"your server answered datagram {repeated} more than once: reply {j + 1} is an"
                " extra reply"
                if repeated
                else f"reply {j + 1} is an extra reply that repeats no datagram sent:"
                f" {window(replies[j], 0)}"
            )
            return _Told(
                summary=summary,
                expected=f"{_count(len(requests), 'reply')}, one per datagram",
                received=_count(len(replies), "reply"),
                cause="Send one reply per datagram received: one sendto() for each recvfrom().",
            )
        case "merged":
            (j,) = pairing.replies
            return _Told(
                summary=f"{_datagrams(numbers, sizes)} came back merged into one reply"
                f" (reply {j + 1}, {size_text(reply_sizes[0])})",
                expected=f"{len(numbers)} replies, sized {elided([str(n) for n in sizes])} bytes",
                received=f"one reply of {bytes_text(reply_sizes[0])}",
                cause="Send one datagram back per datagram received, right away, instead of"
                " collecting data and sending it together.",
            )
        case "split":
            return _Told(
                summary=f"{_datagrams(numbers, sizes)} came back split into"
                f" {len(reply_sizes)} replies",
                expected=f"one reply of {bytes_text(sizes[0])}",
                received=f"{len(reply_sizes)} replies, sized"
                f" {elided([str(n) for n in reply_sizes])} bytes",
                cause="Send each reply with one sendto() that holds the whole payload received.",
            )
        case "truncated":
            (i,), (j,) = pairing.requests, pairing.replies
            return _Told(
                summary=f"reply {j + 1} differs from its request: it is truncated,"
                f" {reply_sizes[0]} of the {sizes[0]} bytes sent",
                expected=f"{sizes[0]} bytes",
                received=f"{reply_sizes[0]} bytes, the first part of the datagram; it ends at"
                f" {window(replies[j], reply_sizes[0])}",
                cause=f"recvfrom({reply_sizes[0]}) keeps only that many bytes of a datagram and"
                " drops the rest without a word: give recvfrom() a buffer as large as the"
                " largest datagram, 65535.",
            )
    (i,), (j,) = pairing.requests, pairing.replies
    offset = first_difference(requests[i], replies[j]) or 0
    return _Told(
        summary=f"reply {j + 1} differs from its request at byte {offset}",
        expected=f"{sizes[0]} bytes, at byte {offset}: {window(requests[i], offset)}",
        received=f"{reply_sizes[0]} bytes, at byte {offset}: {window(replies[j], offset)}",
        cause=_change_cause(requests[i], replies[j]),
    )


def _datagrams(numbers: list[int], sizes: list[int]) -> str:
    if len(numbers) == 1:
        return f"datagram {numbers[0]} ({size_text(sizes[0])})"
    return f"datagrams {numbers[0]} to {numbers[-1]}"


def _change_cause(request: bytes, reply: bytes) -> str:
    """The likely cause of a changed reply, named when it is a common transformation."""
    exact = "Send back exactly the bytes received, unchanged: no decoding, no text methods."
    for name, transformed in (
        ("upper-cased", request.upper()),
        ("lower-cased", request.lower()),
        ("stripped of whitespace", request.strip()),
        ("given a newline", request + b"\n"),
    ):
        if reply == transformed:
            return f"The reply is the datagram {name}. {exact}"
    if reply == request.decode("utf-8", "replace").encode():
        return f"Bytes that are not UTF-8 were replaced: the datagram was decoded. {exact}"
    return exact


def account(
    pairings: tuple[Pairing, ...],
    requests: tuple[bytes, ...],
    replies: tuple[bytes, ...],
    faults: int,
) -> tuple[str, ...]:
    """Datagram by datagram, what came back: at most PAIRINGS_SHOWN lines, then a count."""
    lines = []
    for pairing in pairings:
        sent = "+".join(f"#{i + 1} ({len(requests[i])} B)" for i in pairing.requests) or "-"
        back = "+".join(f"#{j + 1} ({len(replies[j])} B)" for j in pairing.replies) or "-"
        lines.append(f"  datagram {sent} -> reply {back}: {pairing.kind}")
    if len(lines) > PAIRINGS_SHOWN:
        half = PAIRINGS_SHOWN // 2
        hidden = len(lines) - 2 * half
        lines = [*lines[:half], f"  ... ({hidden} more not shown) ...", *lines[-half:]]
    counts = {kind: sum(1 for p in pairings if p.kind == kind) for kind in KIND_ORDER}
    tally = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
    return (
        f"{_count(len(requests), 'datagram')} sent, {_count(len(replies), 'reply')}: {tally}"
        f" ({faults} not as they should be)",
        *lines,
    )


def _count(number: int, noun: str) -> str:
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{number} {noun if number == 1 else plural}"


KIND_ORDER = ("echoed", "missing", "extra", "merged", "split", "truncated", "changed")


KIND = CheckKind(
    name="udp_boundaries",
    description="N datagrams sent produce N replies, each the size and payload of its request.",
    params=Params,
    scenario=lambda params: UdpServerSession(params.reference_udp_client),
    judge=judge,
    needs=("server",),
    captures=True,
    judges_packets=True,
    server_protocol="udp",
)
