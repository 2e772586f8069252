"""Names the likely cause when bytes that should equal the expected ones do not.

One function for every check that compares bytes (a client's stdout with its input, an echo
with what was sent), so the same mistake gets the same sentence wherever it shows.
"""

from __future__ import annotations

from typing import Literal

from grader.checks.diagnosis import shown

Writer = Literal["client", "server"]
"""Who produced the bytes: the client writing its stdout, or the server sending the echo."""

REPLACEMENT_CHARACTER = "\ufffd".encode()
WINDOW_BYTES = 16
"""Bytes shown on each side of the first difference."""


def first_difference(expected: bytes, received: bytes) -> int | None:
    """The first offset where the two differ (the shorter one's length if one is a prefix);
    None when they are equal."""
    for offset, (want, got) in enumerate(zip(expected, received, strict=False)):
        if want != got:
            return offset
    return None if len(expected) == len(received) else min(len(expected), len(received))


def difference_window(expected: bytes, received: bytes, offset: int) -> tuple[str, ...]:
    """Two lines showing the bytes around `offset` in each, as Python reprs."""
    start = max(0, offset - WINDOW_BYTES)
    end = offset + WINDOW_BYTES
    return (
        f"expected, from byte {start}: {shown(expected[start:end])}",
        f"received, from byte {start}: {shown(received[start:end])}",
    )


def byte_cause(expected: bytes, received: bytes, received_total: int, writer: Writer) -> str | None:
    """One sentence naming why `received` is not `expected`, or None when nothing is known.

    `received` is what was kept of the bytes (the first part, or all of them when its length
    is `received_total`). `writer` says whose program wrote them, so the advice names the
    right call: print() for a client's stdout, sendall() for a server's echo.
    """
    complete = len(received) == received_total
    if newline_added(expected, received, received_total):
        return (
            "print() adds a newline (and needs text): write the raw bytes with"
            " sys.stdout.buffer.write(data) instead."
            if writer == "client"
            else "A newline was added: send back exactly what recv() returned, with nothing"
            " appended."
        )
    if complete and expected.endswith(b"\n") and received == expected.rstrip(b"\r\n"):
        return "The line ending was stripped: keep the bytes as they came, without strip()."
    if complete and received.startswith((b"b'", b'b"')) and repr(expected).encode() in received:
        return "That is repr() of the bytes: write the bytes themselves, not str(data)."
    if complete and received != expected and received.lower() == expected.lower():
        return "Letters changed case: send the bytes back unchanged, without upper() or lower()."
    if REPLACEMENT_CHARACTER in received and REPLACEMENT_CHARACTER not in expected:
        return (
            "Binary data is not text: decoding it (decode()) and encoding it again replaced"
            " bytes that are not valid UTF-8; keep the bytes as bytes."
        )
    if received_total == 0:
        return (
            "Nothing was written: write each piece recv() returns to stdout with"
            " sys.stdout.buffer.write(), until recv() returns b''."
            if writer == "client"
            else "Nothing came back before the connection closed: send back every piece recv()"
            " returns, before closing the connection."
        )
    if received_total < len(expected) and expected.startswith(received):
        return (
            "Part of the data never arrived: one recv() returns only part of a stream, and"
            " send() may send only part of a buffer; loop on recv() until it returns b'' and"
            " use sendall()."
        )
    if len(received) > len(expected) and received.startswith(expected):
        return (
            "More was written than came back: stdout holds only the echoed bytes; write any"
            " message of your own to stderr."
            if writer == "client"
            else "More came than was sent: send each piece once, right after recv() returns it."
        )
    return None


def newline_added(expected: bytes, received: bytes, received_total: int) -> bool:
    """Whether a newline was added: at the end, or after a piece in the middle.

    From the kept bytes where they reach the first difference, else from the sizes alone
    (exactly one byte more than expected).
    """
    if received_total <= len(expected):
        return False
    offset = first_difference(expected, received)
    if offset is None or offset >= len(received):
        return received_total == len(expected) + 1
    if received[offset : offset + 1] != b"\n":
        return False
    after = received[offset + 1 : offset + 1 + WINDOW_BYTES]
    return expected[offset : offset + len(after)] == after
