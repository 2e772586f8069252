"""Draws a captured conversation as a ladder: each flow its own block, one line per packet.

A flow is one TCP connection or one UDP client's exchange with a server (see
conversation.py). Each flow's arrows come from that flow's own endpoints, so a second
connection or a third client is never drawn as a reply to the first. With more than one
flow, each block starts with a label naming its endpoints:

       #       time      direction        flags           size  payload
    connection 1: client 10.213.0.3:40000 → server 10.213.0.2:20432
       1      0.000 ms  client → server  SYN
       …
    connection 2: client 10.213.0.3:40002 → server 10.213.0.2:20432
       9      3.100 ms  client → server  SYN

Packet numbers and times are the capture's, so the blocks still show the order of events.
The drawing is bounded: long flows keep both ends, many flows keep the first and last ones
(and every flow with a marked packet, and the flow of `focus`), each elision says how much.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from grader.packets.model import Conversation, Endpoint, Segment, TcpFlow, UdpFlow

PAYLOAD_SHOWN_BYTES = 24
KEEP_AT_EACH_END = 12
"""Packets kept at each end of a flow drawn alone; with several flows, fewer each."""
PACKET_LINES_BUDGET = 36
"""About how many packet lines all flows share (marked packets come on top, see MARKS_SHOWN)."""
MARKS_SHOWN = 16
"""At most this many marked packets are kept beyond the ends of their flows."""
MARKED_FLOWS_SHOWN = 4
"""At most this many flows are drawn for their marked packets beyond the first and last ones."""
FLOWS_AT_START, FLOWS_AT_END = 3, 2
"""With more flows than these, the middle ones are left out (unless marked or in focus)."""
HEADER = "   #       time      direction        flags           size  payload"

Flow = TcpFlow | UdpFlow


def short_payload(payload: bytes) -> str:
    if not payload:
        return ""
    shown = repr(payload[:PAYLOAD_SHOWN_BYTES])
    return shown + ("…" if len(payload) > PAYLOAD_SHOWN_BYTES else "")


def packet_line(segment: Segment, mark: str | None) -> str:
    """One packet, its arrow drawn from its flow's client ("client → server" or "←")."""
    packet = segment.packet
    arrow = "client → server" if segment.direction == "to_server" else "client ← server"
    what = packet.flag_names if packet.protocol == "tcp" else "UDP"
    shows_size = packet.size_bytes or packet.protocol == "udp"
    size = f"{packet.size_bytes} bytes" if shows_size else ""
    line = f"{packet.number:>4}  {packet.time_s * 1000:9.3f} ms  {arrow}  {what:<11} {size:>11}"
    payload = short_payload(packet.payload)
    if payload:
        line += f"  {payload}"
    if mark:
        line += f"   <- {mark}"
    return line.rstrip()


def segments_of(flow: Flow) -> tuple[Segment, ...]:
    return flow.segments if isinstance(flow, TcpFlow) else flow.datagrams


def flows_in_order(conversation: Conversation) -> list[Flow]:
    """TCP connections and UDP clients, in the order their first packet was captured."""
    flows: list[Flow] = [*conversation.tcp, *conversation.udp]
    return sorted(flows, key=lambda flow: segments_of(flow)[0].packet.number)


def endpoint_text(endpoint: Endpoint) -> str:
    return f"{endpoint[0]}:{endpoint[1]}"


def flow_labels(flows: Sequence[Flow]) -> list[str]:
    """Each flow's label, in capture order: TCP connections numbered one by one, UDP flows by
    their client (a client whose datagrams went to two server ports keeps its number)."""
    labels = []
    connections = 0
    clients: dict[Endpoint, int] = {}
    for flow in flows:
        ends = f"{endpoint_text(flow.client)} → server {endpoint_text(flow.server)}"
        if isinstance(flow, TcpFlow):
            connections += 1
            labels.append(f"connection {connections}: client {ends}")
        else:
            number = clients.setdefault(flow.client, len(clients) + 1)
            labels.append(f"client {number} (UDP): {ends}")
    return labels


def flows_kept(flows: Sequence[Flow], must_keep: set[int]) -> set[int]:
    """Indexes of the flows drawn: the first and last ones, and those in `must_keep`."""
    if len(flows) <= FLOWS_AT_START + FLOWS_AT_END:
        return set(range(len(flows)))
    ends = set(range(FLOWS_AT_START)) | set(range(len(flows) - FLOWS_AT_END, len(flows)))
    return ends | must_keep


def packets_kept(segments: Sequence[Segment], at_each_end: int, marked: set[int]) -> set[int]:
    numbers = [s.packet.number for s in segments]
    return set(numbers[:at_each_end]) | set(numbers[-at_each_end:]) | (set(numbers) & marked)


def flow_lines(segments: Sequence[Segment], kept: set[int], marks: Mapping[int, str]) -> list[str]:
    """The flow's packet lines; each run of packets left out becomes one line that counts it."""
    lines = []
    skipped = 0
    for segment in segments:
        if segment.packet.number not in kept:
            skipped += 1
            continue
        if skipped:
            lines.append(packets_left_out(skipped))
            skipped = 0
        lines.append(packet_line(segment, marks.get(segment.packet.number)))
    if skipped:
        lines.append(packets_left_out(skipped))
    return lines


def packets_left_out(count: int) -> str:
    return f"        … {count} packet{'' if count == 1 else 's'} not shown …"


def flows_left_out(flows: Sequence[Flow]) -> str:
    """One line for a run of flows not drawn: how many, of which kind, and their packets."""
    if all(isinstance(flow, TcpFlow) for flow in flows):
        kind = "connections"
    elif all(isinstance(flow, UdpFlow) for flow in flows):
        kind = "UDP flows"
    else:
        kind = "flows"
    packets = sum(len(segments_of(flow)) for flow in flows)
    return f"     … {len(flows)} more {kind} ({packets} packets) not shown …"


def ladder(
    conversation: Conversation,
    focus: Endpoint | None = None,
    marks: Mapping[int, str] | None = None,
) -> tuple[str, ...]:
    """The conversation as text lines, flow by flow; bounded as the module docstring says.

    `focus` is an endpoint of the flow the check is about (its client, usually): that flow is
    always drawn. `marks` maps packet numbers to a note drawn after the packet ("<- note").
    A capture cut at its size limit ends with a line that says so.
    """
    marks = marks or {}
    cut = (f"({conversation.cut.sentence})",) if conversation.cut else ()
    flows = flows_in_order(conversation)
    if not flows:
        return ("(the capture holds no packets)", *cut)
    marked = set(sorted(marks)[:MARKS_SHOWN])
    with_marks = [
        index
        for index, flow in enumerate(flows)
        if any(s.packet.number in marked for s in segments_of(flow))
    ]
    in_focus = {index for index, flow in enumerate(flows) if flow.client == focus}
    shown = flows_kept(flows, in_focus | set(with_marks[:MARKED_FLOWS_SHOWN]))
    at_each_end = max(2, min(KEEP_AT_EACH_END, PACKET_LINES_BUDGET // (2 * len(shown))))
    labels = flow_labels(flows)
    lines = [HEADER]
    left_out: list[Flow] = []
    for index, flow in enumerate(flows):
        if index not in shown:
            left_out.append(flow)
            continue
        if left_out:
            lines.append(flows_left_out(left_out))
            left_out = []
        if len(flows) > 1:
            lines.append(labels[index])
        segments = segments_of(flow)
        lines += flow_lines(segments, packets_kept(segments, at_each_end, marked), marks)
    if left_out:
        lines.append(flows_left_out(left_out))
    return (*lines, *cut)
