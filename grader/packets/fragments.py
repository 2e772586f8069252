"""Puts IPv4 fragments back together into whole IP payloads, within a memory bound.

A UDP datagram larger than the link's MTU (1472 payload bytes on Ethernet) crosses the wire
as several IP fragments; only the first carries the UDP header. Fragments of one datagram
share (source, destination, identification, protocol) (RFC 791); each says where its bytes
go (the offset) and whether more follow (the MF flag). The reassembler keeps at most
MAX_PENDING datagrams in progress: past that the oldest is given up, as a kernel does at
its reassembly limit. A datagram whose fragments never all arrived is handed back (by `add`
when it is given up for room, by `unfinished()` at the end) with the bytes it has from its
start, if it has its first fragment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_PENDING = 64
"""Datagrams in reassembly at once; a capture of the labs' traffic has one or two."""
MAX_IP_PAYLOAD_BYTES = 65535
"""No fragment's bytes reach past this: the IP total length field has 16 bits."""

FragmentKey = tuple[bytes, bytes, int, int]
"""(source address, destination address, identification, protocol)."""


@dataclass(frozen=True)
class Fragment:
    """One IP fragment: where its bytes go in the IP payload, and whether more follow."""

    key: FragmentKey
    offset_bytes: int
    more: bool
    data: bytes
    timestamp_s: float


@dataclass(frozen=True)
class Reassembled:
    """An IP payload put back together: the transport header and its data.

    `complete` False: some fragment never arrived, and `payload` holds only the bytes from
    the start up to the first gap.
    """

    key: FragmentKey
    payload: bytes
    complete: bool
    timestamp_s: float
    """When its last fragment arrived (complete) or its first one (unfinished)."""


@dataclass
class _Pending:
    fragments: list[Fragment] = field(default_factory=list)
    total_bytes: int | None = None
    """Known once the fragment without MF arrived: its offset plus its length."""

    def add(self, fragment: Fragment) -> None:
        self.fragments.append(fragment)
        if not fragment.more:
            self.total_bytes = fragment.offset_bytes + len(fragment.data)

    def contiguous_bytes(self) -> int:
        """How many bytes from offset 0 on arrived without a gap."""
        reach = 0
        for fragment in sorted(self.fragments, key=lambda f: f.offset_bytes):
            if fragment.offset_bytes > reach:
                break
            reach = max(reach, fragment.offset_bytes + len(fragment.data))
        return reach

    def complete(self) -> bool:
        return self.total_bytes is not None and self.contiguous_bytes() >= self.total_bytes

    def payload(self, size: int) -> bytes:
        """The first `size` bytes, later fragments written over earlier ones where they overlap."""
        buffer = bytearray(size)
        for fragment in self.fragments:
            start = fragment.offset_bytes
            if start < size:
                piece = fragment.data[: size - start]
                buffer[start : start + len(piece)] = piece
        return bytes(buffer)

    def has_first(self) -> bool:
        return any(fragment.offset_bytes == 0 for fragment in self.fragments)


class Reassembler:
    """Collects fragments; hands back each IP payload whole once its last piece arrives."""

    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self.max_pending = max_pending
        self.pending: dict[FragmentKey, _Pending] = {}
        self.lost_without_start = 0
        """Unfinished datagrams whose first fragment never arrived: nothing to show of them."""

    def add(self, fragment: Fragment) -> tuple[Reassembled, ...]:
        """Takes one fragment; returns the datagrams it finishes, in order.

        That is the oldest unfinished datagram when it had to be given up to make room, then
        this fragment's own datagram when this fragment completes it; often nothing. Bytes
        past MAX_IP_PAYLOAD_BYTES are cut off: no real datagram has them.
        """
        if fragment.offset_bytes >= MAX_IP_PAYLOAD_BYTES:
            return ()
        room = MAX_IP_PAYLOAD_BYTES - fragment.offset_bytes
        if len(fragment.data) > room:
            fragment = Fragment(
                fragment.key,
                fragment.offset_bytes,
                False,
                fragment.data[:room],
                fragment.timestamp_s,
            )
        finished: list[Reassembled] = []
        if fragment.key not in self.pending and len(self.pending) >= self.max_pending:
            finished.extend(self._give_up(next(iter(self.pending))))
        pending = self.pending.setdefault(fragment.key, _Pending())
        pending.add(fragment)
        if pending.total_bytes is not None and pending.complete():
            del self.pending[fragment.key]
            payload = pending.payload(pending.total_bytes)
            finished.append(Reassembled(fragment.key, payload, True, fragment.timestamp_s))
        return tuple(finished)

    def unfinished(self) -> tuple[Reassembled, ...]:
        """Every datagram still missing a fragment, given up now, in the order they started.

        Only those whose first fragment arrived are returned (the others carry no transport
        header); `lost_without_start` counts the rest.
        """
        return tuple(d for key in list(self.pending) for d in self._give_up(key))

    def _give_up(self, key: FragmentKey) -> tuple[Reassembled, ...]:
        pending = self.pending.pop(key)
        if not pending.has_first():
            self.lost_without_start += 1
            return ()
        earliest = min(fragment.timestamp_s for fragment in pending.fragments)
        prefix = pending.payload(pending.contiguous_bytes())
        return (Reassembled(key, prefix, False, earliest),)
