"""Reads a pcap file (Ethernet, or Linux cooked v2) into Packets with dpkt."""

from __future__ import annotations

from pathlib import Path

import dpkt

from grader.packets.model import Packet

LINKTYPE_ETHERNET = 1
LINKTYPE_LINUX_SLL2 = 276


def _ip_of(link_type: int, frame: bytes) -> object:
    if link_type == LINKTYPE_ETHERNET:
        return dpkt.ethernet.Ethernet(frame).data
    if link_type == LINKTYPE_LINUX_SLL2:
        return dpkt.sll2.SLL2(frame).data
    raise ValueError(f"unsupported pcap link type {link_type}")


def _address(raw: bytes) -> str:
    return ".".join(str(byte) for byte in raw)


def read_packets(path: Path) -> tuple[Packet, ...]:
    """The IPv4 TCP and UDP packets of a capture, numbered from 1, times from the first."""
    packets: list[Packet] = []
    with path.open("rb") as f:
        try:
            reader = dpkt.pcap.Reader(f)
        except ValueError:  # empty or truncated header: nothing was captured
            return ()
        link_type = reader.datalink()
        start: float | None = None
        for timestamp, frame in reader:
            ip = _ip_of(link_type, frame)
            if not isinstance(ip, dpkt.ip.IP):
                continue
            transport = ip.data
            if not isinstance(transport, dpkt.tcp.TCP | dpkt.udp.UDP):
                continue  # ICMP, IGMP and the like: not part of a conversation we grade
            start = timestamp if start is None else start
            common = {
                "number": len(packets) + 1,
                "time_s": float(timestamp - start),
                "source": (_address(ip.src), transport.sport),
                "destination": (_address(ip.dst), transport.dport),
                "payload": bytes(transport.data),
            }
            if isinstance(transport, dpkt.tcp.TCP):
                packets.append(
                    Packet(
                        protocol="tcp",
                        flags=transport.flags,
                        seq=transport.seq,
                        ack=transport.ack,
                        **common,  # type: ignore[arg-type]
                    )
                )
            elif isinstance(transport, dpkt.udp.UDP):
                packets.append(Packet(protocol="udp", **common))  # type: ignore[arg-type]
    return tuple(packets)
