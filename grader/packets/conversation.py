"""Groups captured packets into TCP and UDP flows: handshake, direction, retransmissions."""

from __future__ import annotations

from collections.abc import Iterable

from grader.packets.model import (
    ACK,
    FIN,
    RST,
    SYN,
    CapturedPackets,
    Conversation,
    Direction,
    Endpoint,
    Handshake,
    Packet,
    Segment,
    TcpFlow,
    UdpFlow,
)


def conversation(packets: Iterable[Packet]) -> Conversation:
    """The packets grouped into flows; a capture's cut (CapturedPackets.cut) is kept."""
    cut = packets.cut if isinstance(packets, CapturedPackets) else None
    packets = tuple(packets)
    tcp_groups = _group([p for p in packets if p.protocol == "tcp"])
    udp_groups = _group([p for p in packets if p.protocol == "udp"])
    return Conversation(
        packets=packets,
        tcp=tuple(_tcp_flow(group) for group in tcp_groups),
        udp=tuple(_udp_flow(group) for group in udp_groups),
        cut=cut,
    )


def _group(packets: list[Packet]) -> list[list[Packet]]:
    """Packets grouped by their pair of endpoints, in order of first appearance."""
    groups: dict[frozenset[Endpoint], list[Packet]] = {}
    for packet in packets:
        groups.setdefault(frozenset((packet.source, packet.destination)), []).append(packet)
    return list(groups.values())


def _client_of(group: list[Packet]) -> Endpoint:
    """Who opened the flow: the sender of the first bare SYN, else of the first packet."""
    opener = next((p for p in group if p.has(SYN) and not p.has(ACK)), group[0])
    return opener.source


def _direction(packet: Packet, client: Endpoint) -> Direction:
    return "to_server" if packet.source == client else "to_client"


def _tcp_flow(group: list[Packet]) -> TcpFlow:
    client = _client_of(group)
    server = group[0].destination if group[0].source == client else group[0].source
    seen: set[tuple[Direction, int, int, int]] = set()
    segments = []
    for packet in group:
        direction = _direction(packet, client)
        consumes_sequence = bool(packet.payload) or packet.has(SYN) or packet.has(FIN)
        key = (direction, packet.seq, len(packet.payload), packet.flags & (SYN | FIN))
        retransmission = consumes_sequence and key in seen
        if consumes_sequence:
            seen.add(key)
        segments.append(Segment(packet, direction, retransmission))
    return TcpFlow(client, server, tuple(segments), _handshake(segments))


def _handshake(segments: list[Segment]) -> Handshake:
    syn = next(
        (
            s.packet
            for s in segments
            if s.direction == "to_server" and s.packet.has(SYN) and not s.packet.has(ACK)
        ),
        None,
    )
    if syn is None:
        return Handshake(None, None, None, None)
    expected_ack = (syn.seq + 1) & 0xFFFFFFFF
    syn_ack = next(
        (
            s.packet
            for s in segments
            if s.direction == "to_client"
            and s.packet.has(SYN)
            and s.packet.has(ACK)
            and s.packet.ack == expected_ack
        ),
        None,
    )
    reset = next(
        (
            s.packet
            for s in segments
            if s.direction == "to_client" and s.packet.has(RST) and syn_ack is None
        ),
        None,
    )
    ack = None
    if syn_ack is not None:
        ack = next(
            (
                s.packet
                for s in segments
                if s.direction == "to_server"
                and s.packet.has(ACK)
                and not s.packet.has(SYN)
                and s.packet.ack == (syn_ack.seq + 1) & 0xFFFFFFFF
                and s.packet.seq == expected_ack
            ),
            None,
        )
    return Handshake(syn, syn_ack, ack, reset)


def _udp_flow(group: list[Packet]) -> UdpFlow:
    client = group[0].source
    server = group[0].destination
    seen: set[tuple[Direction, bytes]] = set()
    datagrams = []
    for packet in group:
        direction = _direction(packet, client)
        key = (direction, packet.payload)
        datagrams.append(Segment(packet, direction, key in seen))
        seen.add(key)
    return UdpFlow(client, server, tuple(datagrams))
