"""Packets and conversations as plain, frozen data: what crossed the wire, in order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Endpoint = tuple[str, int]
Direction = Literal["to_server", "to_client"]

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
FLAG_NAMES = ((SYN, "SYN"), (FIN, "FIN"), (RST, "RST"), (PSH, "PSH"), (ACK, "ACK"))


@dataclass(frozen=True)
class Packet:
    """One IPv4 TCP segment or UDP datagram from a capture."""

    number: int
    time_s: float
    protocol: Literal["tcp", "udp"]
    source: Endpoint
    destination: Endpoint
    payload: bytes
    flags: int = 0
    seq: int = 0
    ack: int = 0

    def has(self, flag: int) -> bool:
        return bool(self.flags & flag)

    @property
    def flag_names(self) -> str:
        return " ".join(name for bit, name in FLAG_NAMES if self.flags & bit)


@dataclass(frozen=True)
class Segment:
    """A packet placed in its conversation: direction and retransmission known."""

    packet: Packet
    direction: Direction
    retransmission: bool


@dataclass(frozen=True)
class Handshake:
    syn: Packet | None
    syn_ack: Packet | None
    ack: Packet | None
    reset_reply: Packet | None
    """An RST sent in reply to the SYN: nothing listens on that port."""

    @property
    def complete(self) -> bool:
        return self.syn is not None and self.syn_ack is not None and self.ack is not None


@dataclass(frozen=True)
class TcpFlow:
    client: Endpoint
    server: Endpoint
    segments: tuple[Segment, ...]
    handshake: Handshake

    def first(self, flag: int, direction: Direction) -> Segment | None:
        return next(
            (s for s in self.segments if s.direction == direction and s.packet.has(flag)), None
        )

    def data(self, direction: Direction) -> bytes:
        """The payload sent in one direction, retransmissions left out."""
        return b"".join(
            s.packet.payload
            for s in self.segments
            if s.direction == direction and not s.retransmission
        )

    @property
    def retransmissions(self) -> int:
        return sum(1 for s in self.segments if s.retransmission)


@dataclass(frozen=True)
class UdpFlow:
    client: Endpoint
    server: Endpoint
    datagrams: tuple[Segment, ...]

    def sent(self, direction: Direction) -> tuple[bytes, ...]:
        return tuple(d.packet.payload for d in self.datagrams if d.direction == direction)

    @property
    def retransmissions(self) -> int:
        return sum(1 for d in self.datagrams if d.retransmission)


@dataclass(frozen=True)
class Conversation:
    """Everything a capture holds, grouped into flows."""

    packets: tuple[Packet, ...]
    tcp: tuple[TcpFlow, ...]
    udp: tuple[UdpFlow, ...]

    def tcp_to(self, port: int) -> tuple[TcpFlow, ...]:
        return tuple(flow for flow in self.tcp if flow.server[1] == port)

    def udp_to(self, port: int) -> tuple[UdpFlow, ...]:
        return tuple(flow for flow in self.udp if flow.server[1] == port)
