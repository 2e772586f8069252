"""The ladder draws each TCP connection and each UDP client as its own conversation (no Docker)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import dpkt

from grader.packets.conversation import conversation
from grader.packets.ladder import ladder
from grader.packets.model import ACK, FIN, PSH, SYN, Conversation
from grader.packets.pcap import read_packets
from tests.pcaps import SERVER, PcapWriter

CLIENT_HOST = "10.213.0.3"


@dataclass
class Peer:
    """One client's side of a capture shared by several clients, with its own sequence numbers."""

    writer: PcapWriter
    port: int
    client_seq: int = 1000
    server_seq: int = 5000
    endpoint: tuple[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.endpoint = (CLIENT_HOST, self.port)

    def tcp(self, to_server: bool, flags: int, payload: bytes = b"") -> None:
        source, destination = (self.endpoint, SERVER) if to_server else (SERVER, self.endpoint)
        own, other = (
            (self.client_seq, self.server_seq) if to_server else (self.server_seq, self.client_seq)
        )
        segment = dpkt.tcp.TCP(
            sport=source[1], dport=destination[1], flags=flags, seq=own, ack=other, data=payload
        )
        self.writer._frame(source, destination, segment, dpkt.ip.IP_PROTO_TCP)
        advance = len(payload) + (1 if flags & (SYN | FIN) else 0)
        if to_server:
            self.client_seq += advance
        else:
            self.server_seq += advance

    def udp(self, to_server: bool, payload: bytes) -> None:
        source, destination = (self.endpoint, SERVER) if to_server else (SERVER, self.endpoint)
        datagram = dpkt.udp.UDP(sport=source[1], dport=destination[1], data=payload)
        datagram.ulen = 8 + len(payload)
        self.writer._frame(source, destination, datagram, dpkt.ip.IP_PROTO_UDP)

    def echo_connection(self, payload: bytes) -> None:
        """Handshake, the request, the client's half-close, the echo and the server's close."""
        self.tcp(True, SYN)
        self.tcp(False, SYN | ACK)
        self.tcp(True, ACK)
        self.tcp(True, PSH | ACK, payload)
        self.tcp(True, FIN | ACK)
        self.tcp(False, PSH | ACK, payload)
        self.tcp(False, FIN | ACK)
        self.tcp(True, ACK)


def read(writer: PcapWriter, tmp_path: Path) -> Conversation:
    return conversation(read_packets(writer.write(tmp_path / "flows.pcap")))


def line_of(lines: tuple[str, ...], number: int) -> str:
    return next(line for line in lines if line.split()[:1] == [str(number)])


def test_each_connection_is_its_own_flow_with_its_own_arrows(tmp_path: Path) -> None:
    writer = PcapWriter()
    Peer(writer, 40000).echo_connection(b"first")
    Peer(writer, 40002).echo_connection(b"second")
    seen = read(writer, tmp_path)
    assert [flow.client for flow in seen.tcp] == [(CLIENT_HOST, 40000), (CLIENT_HOST, 40002)]
    lines = ladder(seen, seen.tcp[0].client)
    assert "connection 1: client 10.213.0.3:40000 → server 10.213.0.2:50432" in lines
    assert "connection 2: client 10.213.0.3:40002 → server 10.213.0.2:50432" in lines
    assert "client → server  SYN" in line_of(lines, 9)
    assert "client → server  PSH ACK" in line_of(lines, 12)
    assert "client ← server  PSH ACK" in line_of(lines, 14)


def test_interleaved_connections_keep_their_directions(tmp_path: Path) -> None:
    writer = PcapWriter()
    first, second = Peer(writer, 40000), Peer(writer, 40002)
    first.tcp(True, SYN)
    second.tcp(True, SYN)
    second.tcp(False, SYN | ACK)
    first.tcp(False, SYN | ACK)
    lines = ladder(read(writer, tmp_path))
    assert "client → server  SYN" in line_of(lines, 2)
    assert "client ← server  SYN ACK" in line_of(lines, 3)
    assert lines.index(line_of(lines, 4)) < lines.index(
        "connection 2: client 10.213.0.3:40002 → server 10.213.0.2:50432"
    )


def test_a_new_syn_on_the_same_four_tuple_opens_a_new_connection(tmp_path: Path) -> None:
    writer = PcapWriter()
    Peer(writer, 40000).echo_connection(b"one")
    Peer(writer, 40000, client_seq=90000, server_seq=70000).echo_connection(b"two")
    seen = read(writer, tmp_path)
    assert len(seen.tcp) == 2
    assert all(flow.handshake.complete for flow in seen.tcp)
    assert [flow.data("to_server") for flow in seen.tcp] == [b"one", b"two"]
    assert "connection 2: client 10.213.0.3:40000 → server 10.213.0.2:50432" in ladder(seen)


def test_a_retransmitted_syn_stays_in_its_connection(tmp_path: Path) -> None:
    writer = PcapWriter()
    peer = Peer(writer, 40000)
    peer.tcp(True, SYN)
    peer.client_seq -= 1
    peer.tcp(True, SYN)
    peer.tcp(False, SYN | ACK)
    peer.tcp(True, ACK)
    seen = read(writer, tmp_path)
    assert len(seen.tcp) == 1
    assert seen.tcp[0].handshake.complete
    assert seen.tcp[0].retransmissions == 1


def test_each_udp_client_is_its_own_flow_with_the_shared_endpoint_as_server(
    tmp_path: Path,
) -> None:
    writer = PcapWriter()
    clients = [Peer(writer, port) for port in (41000, 41002, 41004)]
    for client in clients:
        client.udp(True, b"next, please")
    for client in reversed(clients):
        client.udp(False, b"next, please")
    seen = read(writer, tmp_path)
    assert [flow.server for flow in seen.udp] == [SERVER] * 3
    lines = ladder(seen)
    assert "client 3 (UDP): 10.213.0.3:41004 → server 10.213.0.2:50432" in lines
    for number in (1, 2, 3):
        assert "client → server  UDP" in line_of(lines, number)
    for number in (4, 5, 6):
        assert "client ← server  UDP" in line_of(lines, number)


def test_a_server_that_speaks_first_to_a_second_client_is_still_the_server(
    tmp_path: Path,
) -> None:
    writer = PcapWriter()
    Peer(writer, 41000).udp(True, b"ping")
    Peer(writer, 41002).udp(False, b"unasked")
    seen = read(writer, tmp_path)
    assert [flow.client for flow in seen.udp] == [(CLIENT_HOST, 41000), (CLIENT_HOST, 41002)]
    assert "client ← server  UDP" in line_of(ladder(seen), 2)


def test_replies_from_another_port_are_drawn_as_replies_to_the_same_client(
    tmp_path: Path,
) -> None:
    writer = PcapWriter()
    client = Peer(writer, 41000)
    client.udp(True, b"ping")
    source, destination = (SERVER[0], 39000), client.endpoint
    reply = dpkt.udp.UDP(sport=source[1], dport=destination[1], data=b"ping")
    reply.ulen = 8 + 4
    writer._frame(source, destination, reply, dpkt.ip.IP_PROTO_UDP)
    seen = read(writer, tmp_path)
    assert [flow.client for flow in seen.udp] == [client.endpoint, client.endpoint]
    assert seen.udp_to(SERVER[1])[0].sent("to_client") == ()
    lines = ladder(seen)
    assert "client 1 (UDP): 10.213.0.3:41000 → server 10.213.0.2:39000" in lines
    assert "client ← server  UDP" in line_of(lines, 2)


def test_one_flow_is_drawn_without_a_label(tmp_path: Path) -> None:
    writer = PcapWriter()
    Peer(writer, 40000).echo_connection(b"alone")
    lines = ladder(read(writer, tmp_path))
    assert not any(line.startswith("connection") for line in lines)
    assert "client → server  SYN" in lines[1]


def test_many_connections_keep_the_first_and_last_and_the_marked_and_focused_ones(
    tmp_path: Path,
) -> None:
    writer = PcapWriter()
    peers = [Peer(writer, 40000 + 2 * index) for index in range(20)]
    for index, peer in enumerate(peers):
        peer.echo_connection(f"request {index}".encode())
    seen = read(writer, tmp_path)
    marked = seen.tcp[8].segments[3].packet.number
    lines = ladder(seen, peers[12].endpoint, {marked: "look here"})
    assert len(lines) < 60
    assert any("<- look here" in line for line in lines)
    assert "connection 13: client 10.213.0.3:40024 → server 10.213.0.2:50432" in lines
    assert "connection 20: client 10.213.0.3:40038 → server 10.213.0.2:50432" in lines
    assert "connection 5: client 10.213.0.3:40008 → server 10.213.0.2:50432" not in lines
    assert any("more connections (" in line and "not shown" in line for line in lines)


def test_a_long_connection_among_others_is_elided_in_the_middle(tmp_path: Path) -> None:
    writer = PcapWriter()
    long, short = Peer(writer, 40000), Peer(writer, 40002)
    long.tcp(True, SYN)
    long.tcp(False, SYN | ACK)
    long.tcp(True, ACK)
    for _ in range(200):
        long.tcp(True, PSH | ACK, b"x" * 100)
    short.echo_connection(b"short")
    lines = ladder(read(writer, tmp_path))
    assert len(lines) < 50
    assert any("packets not shown" in line for line in lines)
    assert "client → server  SYN" in line_of(lines, 1)
    assert "client → server  SYN" in line_of(lines, 204)


def test_marks_in_every_flow_of_many_keep_the_drawing_bounded(tmp_path: Path) -> None:
    writer = PcapWriter()
    for index in range(40):
        Peer(writer, 41000 + 2 * index).udp(True, b"ping")
    seen = read(writer, tmp_path)
    marks = {number: "retransmission" for number in range(1, 41)}
    lines = ladder(seen, None, marks)
    assert len(lines) < 40
    assert any("more UDP flows (" in line for line in lines)
