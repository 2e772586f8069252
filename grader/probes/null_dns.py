"""Answers every DNS query with "no such name", so a name Docker does not know fails at once.

Runs in a grader container on the lab network, and every container of the run names it as
its DNS server (`dns=`). Docker's embedded DNS (127.0.0.11) answers the lab's own names
itself and forwards only the names it does not know -- here, instead of to the host's
resolvers. On Docker 20.10 the embedded DNS sends nothing back when its upstream fails or
is silent, so without an answer from here a lookup of an unknown name stalls for 10 s; an
authoritative NXDOMAIN is passed straight back (RFC 8020), and the lookup fails in
milliseconds with "Name or service not known".

Serves UDP and TCP on port 53 (TCP messages carry a 2-byte length, RFC 1035 4.2.2); never
sends a packet anywhere but back to the asker. Argument: none. Prints "ready" once both
sockets listen.
"""

from __future__ import annotations

import contextlib
import selectors
import socket

PORT = 53
HEADER_BYTES = 12
MAX_TCP_CLIENTS = 32
MAX_TCP_BUFFER_BYTES = 4096
QR_AA = 0x8400  # a response, authoritative
OPCODE_RD = 0x7900  # the opcode and "recursion desired" bits, copied from the query
NXDOMAIN = 3
FORMERR = 1
NOTIMP = 4


def question_end(message: bytes) -> int | None:
    """The offset just past the first question (name, type, class), or None if malformed."""
    offset = HEADER_BYTES
    while offset < len(message):
        length = message[offset]
        if length == 0:
            end = offset + 1 + 4
            return end if end <= len(message) else None
        if length & 0xC0:  # a compression pointer has no place in a query's question
            return None
        offset += 1 + length
    return None


def answer(query: bytes) -> bytes | None:
    """The reply to one DNS message: NXDOMAIN for a query, FORMERR or NOTIMP otherwise."""
    if len(query) < HEADER_BYTES or query[2] & 0x80:  # too short, or itself a response
        return None
    flags = int.from_bytes(query[2:4], "big")
    opcode = (flags >> 11) & 0xF
    questions = int.from_bytes(query[4:6], "big")
    end = question_end(query) if questions >= 1 else None
    if end is None:
        rcode, question = FORMERR, b""
    else:
        rcode, question = (NXDOMAIN if opcode == 0 else NOTIMP), query[HEADER_BYTES:end]
    reply_flags = QR_AA | (flags & OPCODE_RD) | rcode
    counts = (1 if question else 0, 0, 0, 0)
    header = query[:2] + reply_flags.to_bytes(2, "big")
    header += b"".join(count.to_bytes(2, "big") for count in counts)
    return header + question


def serve() -> None:
    selector = selectors.DefaultSelector()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", PORT))
    udp.setblocking(False)
    tcp = socket.create_server(("0.0.0.0", PORT), backlog=MAX_TCP_CLIENTS)
    tcp.setblocking(False)
    selector.register(udp, selectors.EVENT_READ, "udp")
    selector.register(tcp, selectors.EVENT_READ, "accept")
    buffers: dict[socket.socket, bytes] = {}
    print("ready", flush=True)
    while True:
        for key, _ in selector.select():
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if key.data == "udp":
                serve_datagram(sock)
            elif key.data == "accept":
                accept(sock, selector, buffers)
            else:
                serve_stream(sock, selector, buffers)


def serve_datagram(udp: socket.socket) -> None:
    try:
        query, peer = udp.recvfrom(4096)
    except OSError:
        return
    reply = answer(query)
    if reply is not None:
        with contextlib.suppress(OSError):
            udp.sendto(reply, peer)


def accept(
    tcp: socket.socket, selector: selectors.BaseSelector, buffers: dict[socket.socket, bytes]
) -> None:
    try:
        connection, _ = tcp.accept()
    except OSError:
        return
    if len(buffers) >= MAX_TCP_CLIENTS:  # a client holding connections open starves no one
        connection.close()
        return
    connection.setblocking(False)
    buffers[connection] = b""
    selector.register(connection, selectors.EVENT_READ, "stream")


def serve_stream(
    connection: socket.socket,
    selector: selectors.BaseSelector,
    buffers: dict[socket.socket, bytes],
) -> None:
    try:
        data = connection.recv(MAX_TCP_BUFFER_BYTES)
    except OSError:
        data = b""
    pending = buffers.get(connection, b"") + data
    while len(pending) >= 2 and len(pending) >= 2 + int.from_bytes(pending[:2], "big"):
        length = int.from_bytes(pending[:2], "big")
        reply = answer(pending[2 : 2 + length])
        pending = pending[2 + length :]
        if reply is not None:
            try:
                connection.sendall(len(reply).to_bytes(2, "big") + reply)
            except OSError:
                data = b""
    if not data or len(pending) > MAX_TCP_BUFFER_BYTES:
        selector.unregister(connection)
        buffers.pop(connection, None)
        connection.close()
        return
    buffers[connection] = pending


if __name__ == "__main__":
    serve()
