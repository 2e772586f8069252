"""Small pcap files written with dpkt, for testing the packet analysis without Docker."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

import dpkt

from grader.packets.model import ACK, FIN, PSH, RST, SYN

CLIENT = ("10.213.0.3", 40000)
SERVER = ("10.213.0.2", 50432)


@dataclass
class PcapWriter:
    """Builds Ethernet frames for a client/server conversation, tracking sequence numbers."""

    frames: list[bytes] = field(default_factory=list)
    client_seq: int = 1000
    server_seq: int = 5000

    def tcp(
        self,
        to_server: bool,
        flags: int,
        payload: bytes = b"",
        *,
        seq: int | None = None,
        ack: int | None = None,
    ) -> None:
        source, destination = (CLIENT, SERVER) if to_server else (SERVER, CLIENT)
        own = self.client_seq if to_server else self.server_seq
        other = self.server_seq if to_server else self.client_seq
        segment = dpkt.tcp.TCP(
            sport=source[1],
            dport=destination[1],
            flags=flags,
            seq=own if seq is None else seq,
            ack=other if ack is None else ack,
            data=payload,
        )
        self._frame(source, destination, segment, dpkt.ip.IP_PROTO_TCP)
        advance = len(payload) + (1 if flags & (SYN | FIN) else 0)
        if seq is None:
            if to_server:
                self.client_seq += advance
            else:
                self.server_seq += advance

    def udp(
        self,
        to_server: bool,
        payload: bytes,
        client: tuple[str, int] = CLIENT,
        server: tuple[str, int] = SERVER,
    ) -> None:
        source, destination = (client, server) if to_server else (server, client)
        datagram = dpkt.udp.UDP(sport=source[1], dport=destination[1], data=payload)
        datagram.ulen = 8 + len(payload)
        self._frame(source, destination, datagram, dpkt.ip.IP_PROTO_UDP)

    def udp_fragments(
        self,
        to_server: bool,
        payload: bytes,
        *,
        identification: int = 7,
        fragment_bytes: int = 1480,
        order: tuple[int, ...] | None = None,
        left_out: tuple[int, ...] = (),
    ) -> int:
        """One UDP datagram as IP fragments of `fragment_bytes` (a multiple of 8), as Linux
        sends a datagram larger than the MTU; `order` gives the fragments' order on the wire
        (by number from 0), `left_out` the ones lost. Returns how many fragments it made."""
        source, destination = (CLIENT, SERVER) if to_server else (SERVER, CLIENT)
        datagram = dpkt.udp.UDP(sport=source[1], dport=destination[1], data=payload)
        datagram.ulen = 8 + len(payload)
        whole = bytes(datagram)
        pieces = [whole[at : at + fragment_bytes] for at in range(0, len(whole), fragment_bytes)]
        for number in order if order is not None else range(len(pieces)):
            if number in left_out:
                continue
            ip = dpkt.ip.IP(
                src=socket.inet_aton(source[0]),
                dst=socket.inet_aton(destination[0]),
                p=dpkt.ip.IP_PROTO_UDP,
                id=identification,
                data=pieces[number],
            )
            ip.offset = number * fragment_bytes // 8  # in units of 8 bytes, as on the wire
            ip.mf = int(number < len(pieces) - 1)
            ip.len = 20 + len(pieces[number])
            self._ethernet(ip)
        return len(pieces)

    def _frame(
        self,
        source: tuple[str, int],
        destination: tuple[str, int],
        transport: object,
        protocol: int,
    ) -> None:
        ip = dpkt.ip.IP(
            src=socket.inet_aton(source[0]),
            dst=socket.inet_aton(destination[0]),
            p=protocol,
            data=transport,
        )
        ip.len = 20 + len(bytes(transport))  # type: ignore[arg-type]
        self._ethernet(ip)

    def _ethernet(self, ip: dpkt.ip.IP) -> None:
        ethernet = dpkt.ethernet.Ethernet(
            src=b"\x02\x00\x00\x00\x00\x01",
            dst=b"\x02\x00\x00\x00\x00\x02",
            type=dpkt.ethernet.ETH_TYPE_IP,
            data=ip,
        )
        self.frames.append(bytes(ethernet))

    def handshake(self) -> None:
        self.tcp(True, SYN, ack=0)
        self.tcp(False, SYN | ACK)
        self.tcp(True, ACK)

    def write(self, path: Path) -> Path:
        with path.open("wb") as f:
            writer = dpkt.pcap.Writer(f, linktype=dpkt.pcap.DLT_EN10MB)
            for number, frame in enumerate(self.frames):
                writer.writepkt(frame, ts=1_700_000_000 + number / 1000)
        return path


def hello_exchange(close: str = "graceful") -> PcapWriter:
    """Lab 01's exchange: handshake, greeting, then the server's chosen close."""
    pcap = PcapWriter()
    pcap.handshake()
    pcap.tcp(False, PSH | ACK, b"Hello, Client!")
    pcap.tcp(True, ACK)
    if close == "graceful":
        pcap.tcp(False, FIN | ACK)
        pcap.tcp(True, FIN | ACK)
        pcap.tcp(False, ACK)
    elif close == "reset":
        pcap.tcp(False, RST | ACK)
    return pcap


def udp_datagrams(count: int, size_bytes: int) -> PcapWriter:
    """`count` datagrams of `size_bytes` from the server to the client: a flood."""
    pcap = PcapWriter()
    for number in range(count):
        pcap.udp(False, number.to_bytes(4, "big") * (size_bytes // 4))
    return pcap


def first_fragment_of_udp(payload_bytes: int, fragment_bytes: int = 1472) -> PcapWriter:
    """The first IP fragment of a large UDP datagram: its UDP length says `payload_bytes`,
    but it carries only `fragment_bytes` of them (the rest travels in later fragments)."""
    pcap = PcapWriter()
    datagram = dpkt.udp.UDP(sport=CLIENT[1], dport=SERVER[1], data=b"\xab" * fragment_bytes)
    datagram.ulen = 8 + payload_bytes
    pcap._frame(CLIENT, SERVER, datagram, dpkt.ip.IP_PROTO_UDP)
    return pcap
