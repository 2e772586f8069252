"""Pairs a UDP server's replies with the datagrams it was sent, and names each mismatch.

A pure function of two payload lists, in the order they crossed the wire: no capture, no
verdict. An echo server owes exactly one reply per datagram, equal to it; anything else is
one of the faults below, each named for what the server did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Kind = Literal["echoed", "missing", "extra", "merged", "split", "truncated", "changed"]
"""echoed: one reply equal to its datagram. missing: a datagram got no reply. extra: a reply
repeats one already given. merged: one reply holds several datagrams, joined. split: several
replies together make one datagram. truncated: the reply is the datagram's first part only.
changed: the reply differs from its datagram otherwise."""

WINDOW_BYTES = 8
"""Bytes shown on each side of the first difference."""


@dataclass(frozen=True)
class Pairing:
    """Which datagrams (by index from 0) a stretch of replies answers, and how."""

    kind: Kind
    requests: tuple[int, ...]
    replies: tuple[int, ...]


def pair_replies(requests: Sequence[bytes], replies: Sequence[bytes]) -> tuple[Pairing, ...]:
    """Walks both lists in order and pairs them; every request and reply is in one Pairing.

    Runs in time linear in the number of replies for the faults a server makes (a reply
    equal to a later datagram looks ahead over the requests only).
    """
    pairings: list[Pairing] = []
    answered: set[bytes] = set()
    i = j = 0
    while i < len(requests) or j < len(replies):
        if j == len(replies):
            pairings.append(Pairing("missing", (i,), ()))
            i += 1
            continue
        if i == len(requests):
            pairings.append(Pairing("extra", (), (j,)))
            j += 1
            continue
        pairing = _pairing(requests, replies, i, j, answered)
        pairings.append(pairing)
        answered.update(requests[k] for k in pairing.requests if pairing.kind != "missing")
        i += len(pairing.requests)
        j += len(pairing.replies)
    return tuple(pairings)


def _pairing(
    requests: Sequence[bytes], replies: Sequence[bytes], i: int, j: int, answered: set[bytes]
) -> Pairing:
    """The pairing that starts at request i and reply j (both exist)."""
    request, reply = requests[i], replies[j]
    if reply == request:
        return Pairing("echoed", (i,), (j,))
    if reply in answered:
        return Pairing("extra", (), (j,))
    later = next((k for k in range(i + 1, len(requests)) if requests[k] == reply), None)
    if later is not None:
        return Pairing("missing", tuple(range(i, later)), ())
    if reply and len(reply) < len(request) and request.startswith(reply):
        pieces = _pieces(request, replies, j)
        if len(pieces) > 1:
            return Pairing("split", (i,), pieces)
        return Pairing("truncated", (i,), (j,))
    if len(reply) > len(request) and reply.startswith(request):
        joined = joined_requests(reply, requests, i)
        if len(joined) > 1:
            return Pairing("merged", joined, (j,))
    return Pairing("changed", (i,), (j,))


def _pieces(request: bytes, replies: Sequence[bytes], j: int) -> tuple[int, ...]:
    """The replies from j on that, joined, make `request`; () if they do not."""
    made = 0
    k = j
    while k < len(replies) and made < len(request):
        piece = replies[k]
        if not piece or not request.startswith(piece, made):
            break
        made += len(piece)
        k += 1
    return tuple(range(j, k)) if made == len(request) else ()


def joined_requests(reply: bytes, requests: Sequence[bytes], i: int) -> tuple[int, ...]:
    """The requests from i on that, joined, make `reply`; () if they do not."""
    made = 0
    k = i
    while k < len(requests) and made < len(reply):
        if not requests[k] or not reply.startswith(requests[k], made):
            break
        made += len(requests[k])
        k += 1
    return tuple(range(i, k)) if made == len(reply) else ()


def window(data: bytes, offset: int, around: int = WINDOW_BYTES) -> str:
    """The bytes around `offset` as Python's repr, with "..." where bytes are left out."""
    start, end = max(0, offset - around), min(len(data), offset + around)
    before = "..." if start > 0 else ""
    after = "..." if end < len(data) else ""
    return f"{before}{data[start:end]!r}{after}"
