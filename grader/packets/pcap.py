"""Reads a pcap file (Ethernet, or Linux cooked v2) into Packets, within a memory bound.

Records are read one at a time from the file (never the whole file at once) and decoded
with dpkt; reading stops at READ_LIMIT_BYTES or READ_LIMIT_PACKETS, so even a pcap that
was not written by the bounded capture writer cannot take the grader's memory. What the
capture writer left out (its CaptureSummary beside the pcap) and what this reader left out
are reported together as the capture's `cut`.
"""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

import dpkt

from grader.packets.fragments import Fragment, Reassembled, Reassembler
from grader.packets.model import CaptureCut, CapturedPackets, Packet
from grader.probes.capture_summary import CaptureSummary, summary_path

LINKTYPE_ETHERNET = 1
LINKTYPE_LINUX_SLL2 = 276
READ_LIMIT_BYTES = 4 << 20
"""Four times the capture writer's limit: only a pcap from elsewhere is ever cut here."""
READ_LIMIT_PACKETS = 40_000
GLOBAL_HEADER = struct.Struct("<IHHiIII")
RECORD_HEADER_BYTES = 16
MAGIC_MICROSECONDS, MAGIC_NANOSECONDS = 0xA1B2C3D4, 0xA1B23C4D


def _ip_of(link_type: int, frame: bytes) -> object:
    if link_type == LINKTYPE_ETHERNET:
        return dpkt.ethernet.Ethernet(frame).data
    if link_type == LINKTYPE_LINUX_SLL2:
        return dpkt.sll2.SLL2(frame).data
    raise ValueError(f"unsupported pcap link type {link_type}")


def _address(raw: bytes) -> str:
    return ".".join(str(byte) for byte in raw)


def _payload_bytes(ip: dpkt.ip.IP, transport: dpkt.tcp.TCP | dpkt.udp.UDP) -> int:
    """The payload size the headers give, which the captured bytes may fall short of.

    The first IP fragment of a large datagram carries only part of its payload; the UDP
    header still says the whole length. A TCP segment's size comes from the IP total
    length, except with segmentation offload (length 0), where the captured bytes count.
    """
    if isinstance(transport, dpkt.udp.UDP):
        return max(0, int(transport.ulen) - 8)
    if ip.len:
        return max(0, int(ip.len) - int(ip.hl) * 4 - int(transport.off) * 4)
    return len(transport.data)


class _Records:
    """Iterates (timestamp in s, frame bytes) over a pcap file, stopping at the read limits."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        header = f.read(GLOBAL_HEADER.size)
        if len(header) < GLOBAL_HEADER.size:
            raise ValueError("no pcap header: nothing was captured")
        for order in ("<", ">"):
            fields = struct.unpack(order + "IHHiIII", header)
            if fields[0] in (MAGIC_MICROSECONDS, MAGIC_NANOSECONDS):
                self.order = order
                self.fraction_s = 1e-6 if fields[0] == MAGIC_MICROSECONDS else 1e-9
                self.link_type = fields[6] & 0x0FFFFFFF
                break
        else:
            raise ValueError("not a pcap file")
        self.read_bytes = GLOBAL_HEADER.size
        self.records = 0
        self.left_out_packets = 0
        self.left_out_bytes = 0

    def __iter__(self) -> _Records:
        return self

    def __next__(self) -> tuple[float, bytes]:
        header = self.f.read(RECORD_HEADER_BYTES)
        if len(header) < RECORD_HEADER_BYTES:
            raise StopIteration  # the end, or a record cut off by a killed writer
        seconds, fraction, length, _ = struct.unpack(self.order + "IIII", header)
        size = RECORD_HEADER_BYTES + length
        if self.read_bytes + size > READ_LIMIT_BYTES or self.records >= READ_LIMIT_PACKETS:
            self._count_the_rest(size)
            raise StopIteration
        frame = self.f.read(length)
        if len(frame) < length:
            raise StopIteration
        self.read_bytes += size
        self.records += 1
        return seconds + fraction * self.fraction_s, frame

    def _count_the_rest(self, first_size: int) -> None:
        """Counts the records past the read limit by their headers, without reading them."""
        size = first_size
        while True:
            self.left_out_packets += 1
            self.left_out_bytes += size
            self.f.seek(size - RECORD_HEADER_BYTES, 1)
            header = self.f.read(RECORD_HEADER_BYTES)
            if len(header) < RECORD_HEADER_BYTES:
                return
            size = RECORD_HEADER_BYTES + struct.unpack(self.order + "IIII", header)[2]


def _cut(records: _Records, summary: CaptureSummary | None) -> CaptureCut | None:
    left_out_packets = records.left_out_packets + (summary.left_out_packets if summary else 0)
    if not left_out_packets:
        return None
    by_writer = summary is not None and summary.cut
    return CaptureCut(
        limit_bytes=summary.limit_bytes if summary is not None and by_writer else READ_LIMIT_BYTES,
        left_out_packets=left_out_packets,
        left_out_bytes=records.left_out_bytes + (summary.left_out_bytes if summary else 0),
    )


def read_packets(path: Path) -> CapturedPackets:
    """The IPv4 TCP and UDP packets of a capture, numbered from 1, times from the first.

    IP fragments are put back together (grader/packets/fragments.py): a datagram larger
    than the MTU is one Packet with all its bytes, placed where its last fragment arrived.
    One that lost a fragment is a Packet whose `payload` is shorter than its `size_bytes`
    (the bytes up to the gap), placed where its first fragment arrived. Frames dpkt cannot
    decode (a snap length shorter than their headers) are skipped. The result's `cut` says
    how many packets the capture writer or this reader left out.
    """
    packets: list[Packet] = []
    summary = CaptureSummary.read(summary_path(path))
    with path.open("rb") as f:
        try:
            records = _Records(f)
        except ValueError:  # empty or truncated header: nothing was captured
            return CapturedPackets((), _cut_without_records(summary))
        link_type = records.link_type
        reassembler = Reassembler()
        start: float | None = None
        for timestamp, frame in records:
            try:
                ip = _ip_of(link_type, frame)
            except (dpkt.UnpackError, struct.error):
                continue
            if not isinstance(ip, dpkt.ip.IP):
                continue
            fragmented = bool(ip.mf or ip.offset)
            if not fragmented and not isinstance(ip.data, dpkt.tcp.TCP | dpkt.udp.UDP):
                continue  # ICMP, IGMP: not part of a conversation we grade
            start = timestamp if start is None else start
            if fragmented:
                offset_bytes = ip.offset * 8  # the header counts in units of 8 bytes
                key = (ip.src, ip.dst, ip.id, ip.p)
                fragment = Fragment(key, offset_bytes, bool(ip.mf), bytes(ip.data), timestamp)
                for whole in reassembler.add(fragment):
                    _append(packets, whole.timestamp_s - start, _reassembled_ip(whole))
                continue
            _append(packets, timestamp - start, ip)
        for unfinished in reassembler.unfinished():
            _append(packets, unfinished.timestamp_s - (start or 0.0), _reassembled_ip(unfinished))
    return CapturedPackets(_in_time_order(packets), _cut(records, summary))


def _in_time_order(packets: list[Packet]) -> tuple[Packet, ...]:
    """The packets sorted by time (stable) and numbered again from 1: an unfinished
    datagram is only known at the end, but belongs where its first fragment arrived."""
    ordered = sorted(packets, key=lambda packet: packet.time_s)
    if ordered == packets:
        return tuple(packets)
    return tuple(replace(packet, number=n) for n, packet in enumerate(ordered, start=1))


def _reassembled_ip(whole: Reassembled) -> dpkt.ip.IP:
    """An unfragmented IP packet holding a reassembled payload, its transport decoded.

    A payload cut short by a missing fragment decodes too: its transport header says the
    whole size, which Packet.size_bytes reports beside the bytes that arrived.
    """
    source, destination, identification, protocol = whole.key
    ip = dpkt.ip.IP(src=source, dst=destination, id=identification, p=protocol)
    try:
        ip.data = ip.get_proto(protocol)(whole.payload)
    except (KeyError, dpkt.UnpackError, struct.error):
        ip.data = whole.payload
    ip.len = 20 + len(whole.payload) if whole.complete else 0
    return ip


def _append(packets: list[Packet], time_s: float, ip: dpkt.ip.IP) -> None:
    """Adds the IP packet's TCP segment or UDP datagram to `packets`, numbered next."""
    transport = ip.data
    if not isinstance(transport, dpkt.tcp.TCP | dpkt.udp.UDP):
        return  # a reassembled payload of another protocol
    common = {
        "number": len(packets) + 1,
        "time_s": float(time_s),
        "source": (_address(ip.src), transport.sport),
        "destination": (_address(ip.dst), transport.dport),
        "payload": bytes(transport.data),
        "payload_bytes": _payload_bytes(ip, transport),
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
    else:
        packets.append(Packet(protocol="udp", **common))  # type: ignore[arg-type]


def _cut_without_records(summary: CaptureSummary | None) -> CaptureCut | None:
    if summary is None or not summary.cut:
        return None
    return CaptureCut(summary.limit_bytes, summary.left_out_packets, summary.left_out_bytes)
