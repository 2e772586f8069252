"""Draws a captured conversation as a ladder: one line per packet, arrows for direction."""

from __future__ import annotations

from collections.abc import Mapping

from grader.packets.model import Conversation, Endpoint, Packet

PAYLOAD_SHOWN_BYTES = 24
KEEP_AT_EACH_END = 12


def short_payload(payload: bytes) -> str:
    if not payload:
        return ""
    shown = repr(payload[:PAYLOAD_SHOWN_BYTES])
    return shown + ("…" if len(payload) > PAYLOAD_SHOWN_BYTES else "")


def packet_line(packet: Packet, client: Endpoint | None, mark: str | None) -> str:
    if client is None:
        (source, sport), (destination, dport) = packet.source, packet.destination
        arrow = f"{source}:{sport} → {destination}:{dport}"
    else:
        arrow = "client → server" if packet.source == client else "client ← server"
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


def ladder(
    conversation: Conversation,
    client: Endpoint | None,
    marks: Mapping[int, str] | None = None,
) -> tuple[str, ...]:
    """The conversation as text lines; long ones keep both ends and every marked packet.

    A capture cut at its size limit ends with a line that says so.
    """
    marks = marks or {}
    packets = conversation.packets
    cut = (f"({conversation.cut.sentence})",) if conversation.cut else ()
    if not packets:
        return ("(the capture holds no packets)", *cut)
    keep = {p.number for p in packets[:KEEP_AT_EACH_END] + packets[-KEEP_AT_EACH_END:]} | set(marks)
    lines = ["   #       time      direction        flags           size  payload"]
    skipped = 0
    for packet in packets:
        if packet.number not in keep:
            skipped += 1
            continue
        if skipped:
            lines.append(f"        … {skipped} packets not shown …")
            skipped = 0
        lines.append(packet_line(packet, client, marks.get(packet.number)))
    return (*lines, *cut)
