"""Packets and conversations as plain, frozen data: what crossed the wire, in order."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, overload

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
    """The payload bytes captured: all of it, or its first part (an IP fragment)."""
    flags: int = 0
    seq: int = 0
    ack: int = 0
    payload_bytes: int | None = None
    """The payload size its headers give (UDP length, IP total length); None: unknown."""

    @property
    def size_bytes(self) -> int:
        """How many payload bytes the packet carried on the wire, captured or not."""
        return len(self.payload) if self.payload_bytes is None else self.payload_bytes

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
class CaptureCut:
    """Packets that crossed the wire but are not in the capture: it reached its limit."""

    limit_bytes: int
    """The size at which the capture was cut."""
    left_out_packets: int
    left_out_bytes: int

    @property
    def limit_mb(self) -> float:
        return self.limit_bytes / (1 << 20)

    @property
    def sentence(self) -> str:
        """One line for feedback: where the capture was cut and what that left out."""
        return (
            f"the capture was cut at {self.limit_mb:g} MB: {self.left_out_packets} more"
            f" packets ({self.left_out_bytes} bytes) crossed the wire and are not shown"
        )


@dataclass(frozen=True)
class CapturedPackets(Sequence[Packet]):
    """The packets read from a capture, in order, and what the capture left out, if anything."""

    packets: tuple[Packet, ...]
    cut: CaptureCut | None = None

    @overload
    def __getitem__(self, index: int) -> Packet: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Packet]: ...

    def __getitem__(self, index: int | slice) -> Packet | Sequence[Packet]:
        return self.packets[index]

    def __len__(self) -> int:
        return len(self.packets)

    def __iter__(self) -> Iterator[Packet]:
        return iter(self.packets)


@dataclass(frozen=True)
class Conversation:
    """Everything a capture holds, grouped into flows."""

    packets: tuple[Packet, ...]
    tcp: tuple[TcpFlow, ...]
    udp: tuple[UdpFlow, ...]
    cut: CaptureCut | None = None
    """Set when the capture reached its size limit: the flows hold only what came before."""

    @property
    def truncated(self) -> bool:
        return self.cut is not None

    def tcp_to(self, port: int) -> tuple[TcpFlow, ...]:
        return tuple(flow for flow in self.tcp if flow.server[1] == port)

    def udp_to(self, port: int) -> tuple[UdpFlow, ...]:
        return tuple(flow for flow in self.udp if flow.server[1] == port)
