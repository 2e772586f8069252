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
    """The packets grouped into flows; a capture's cut (CapturedPackets.cut) is kept.

    A TCP flow is one connection: its 4-tuple, from one SYN to the next SYN that opens a new
    connection on the same 4-tuple. A UDP flow is one client's exchange with one server: the
    datagrams between one pair of address/port endpoints.
    """
    cut = packets.cut if isinstance(packets, CapturedPackets) else None
    packets = tuple(packets)
    tcp_groups = _connections([p for p in packets if p.protocol == "tcp"])
    udp_groups = _group([p for p in packets if p.protocol == "udp"])
    return Conversation(
        packets=packets,
        tcp=tuple(_tcp_flow(group) for group in tcp_groups),
        udp=tuple(
            _udp_flow(group, ends)
            for group, ends in zip(udp_groups, _udp_ends(udp_groups), strict=True)
        ),
        cut=cut,
    )


def _pair(packet: Packet) -> frozenset[Endpoint]:
    return frozenset((packet.source, packet.destination))


def _group(packets: list[Packet]) -> list[list[Packet]]:
    """Packets grouped by their pair of endpoints, in order of first appearance."""
    groups: dict[frozenset[Endpoint], list[Packet]] = {}
    for packet in packets:
        groups.setdefault(_pair(packet), []).append(packet)
    return list(groups.values())


def _opens_connection(packet: Packet) -> bool:
    return packet.has(SYN) and not packet.has(ACK)


def _connections(packets: list[Packet]) -> list[list[Packet]]:
    """TCP packets grouped by connection, in order of first appearance.

    A bare SYN on a 4-tuple already seen opens a new connection, unless it repeats the SYN
    that opened the current one (same sequence number: a retransmitted SYN).
    """
    groups: list[list[Packet]] = []
    current: dict[frozenset[Endpoint], list[Packet]] = {}
    for packet in packets:
        group = current.get(_pair(packet))
        if group is None or (_opens_connection(packet) and not _repeats_opening(group, packet)):
            group = []
            groups.append(group)
            current[_pair(packet)] = group
        group.append(packet)
    return groups


def _repeats_opening(group: list[Packet], syn: Packet) -> bool:
    """Whether `syn` repeats the SYN that opened `group`: same sender, same sequence number."""
    opening = next((p for p in group if _opens_connection(p)), None)
    return opening is not None and opening.source == syn.source and opening.seq == syn.seq


def _udp_ends(groups: list[list[Packet]]) -> list[tuple[Endpoint, Endpoint]]:
    """Each UDP group's (client, server), in the groups' order.

    The sender of a group's first datagram is its client, unless an earlier group already
    showed an endpoint's role: an endpoint that received a first datagram is a server (a
    server that speaks first to a second client is still the server), one that sent a first
    datagram is a client (replies sent from another port than the server's are still
    replies to that client).
    """
    clients: set[Endpoint] = set()
    servers: set[Endpoint] = set()
    ends = []
    for group in groups:
        client, server = group[0].source, group[0].destination
        if client in servers or server in clients:
            client, server = server, client
        clients.add(client)
        servers.add(server)
        ends.append((client, server))
    return ends


def _client_of(group: list[Packet]) -> Endpoint:
    """Who opened the flow: the sender of the first bare SYN, else of the first packet."""
    opener = next((p for p in group if _opens_connection(p)), group[0])
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


def _udp_flow(group: list[Packet], ends: tuple[Endpoint, Endpoint]) -> UdpFlow:
    """One client's datagrams with one server endpoint; `ends` is (client, server)."""
    client, server = ends
    seen: set[tuple[Direction, bytes]] = set()
    datagrams = []
    for packet in group:
        direction = _direction(packet, client)
        key = (direction, packet.payload)
        datagrams.append(Segment(packet, direction, key in seen))
        seen.add(key)
    return UdpFlow(client, server, tuple(datagrams))
