"""The grader's instrumented peers: a reference client and a reference server, TCP and UDP.

Runs in a grader-owned container on the lab network, or as a process of the local backend.
Takes one JSON argument, does what it says, and prints one line `REPORT {json}` with what it
observed. The servers print `READY` once they listen: on `bind` (default 0.0.0.0), and they
note the SYNs that arrive on `interface` (default eth0; to `bind` only, when it is given).
The clients connect from `source` when it is given (else the address the kernel picks).

Whatever the student's program does, this script stays bounded and always reports:
- it keeps counts and a sha256 of everything it receives, but only the first part of the
  bytes (KEEP_RECEIVED_BYTES per connection, REPLY_KEEP_BYTES of UDP replies in all), and
  finds the first difference from what it sent as the bytes arrive;
- it stops at `deadline_s` (from its options) and when a peer floods it (FLOOD_MARGIN_BYTES
  past what an echo would send, FLOOD_EXTRA_REPLIES datagrams past one reply per request);
- on SIGTERM, at its deadline, after a flood or an error of its own, it prints its report
  with `stopped` (why it stopped) and `elapsed_s`, so the REPORT line stays far below the
  1 MB Docker keeps of a container's log (REPORT_LIMIT_BYTES).
"""

from __future__ import annotations

import base64
import hashlib
import json
import select
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from typing import Any

ETH_P_IP = 0x0800
PACKET_HOST = 0
TCP_SYN = 0x02
TCP_ACK = 0x10

KEEP_RECEIVED_BYTES = 16 * 1024
FLOOD_MARGIN_BYTES = 1 << 20
"""A TCP peer that sends this much more than it was sent is flooding: stop reading."""
ECHO_LIMIT_BYTES = 32 << 20
"""The reference echo server holds at most this much before it echoes (specs send 8 MiB)."""
REPLY_KEEP_BYTES = 64 * 1024
"""Payload bytes of UDP replies kept in the report, over all replies."""
REPLIES_KEPT = 256
FLOOD_EXTRA_REPLIES = 1000
"""This many UDP replies beyond one per request is a flood: stop counting."""
SYN_PORTS_KEPT = 32
DEFAULT_DEADLINE_S = 600.0
"""For callers that give no deadline (long-lived helpers stopped by SIGTERM)."""
REPORT_LIMIT_BYTES = 256 * 1024
RECV_BYTES = 65536


class Terminated(Exception):
    pass


def on_sigterm(signum: int, frame: Any) -> None:
    # One is enough: a second SIGTERM must not interrupt the cleanup or the report.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Clock:
    """The peer's overall deadline, from the start of the script."""

    def __init__(self, deadline_s: float) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + deadline_s

    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def remaining_s(self, until: float | None = None) -> float:
        end = self.deadline if until is None else min(until, self.deadline)
        return end - time.monotonic()


class Report:
    """What the peer saw so far; printed once, however the peer stops."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.observed: dict[str, Any] = {}
        self.stopped: str | None = None

    def stop(self, reason: str) -> None:
        if self.stopped is None:
            self.stopped = reason

    def line(self) -> str:
        observed = {
            **self.observed,
            "stopped": self.stopped or "done",
            "elapsed_s": round(self.clock.elapsed_s(), 3),
        }
        text = "REPORT " + json.dumps(observed)
        if len(text) > REPORT_LIMIT_BYTES:  # a bug of this script: say so instead of a cut line
            text = "REPORT " + json.dumps({"stopped": f"report too long ({len(text)} bytes)"})
        return text


class Received:
    """A bounded record of a byte stream: total, sha256, first part, first difference.

    With `expected`, the first offset where the stream differs from it is found as the bytes
    arrive (a stream longer than `expected` differs at len(expected)), so nothing but the
    first KEEP_RECEIVED_BYTES is ever held.
    """

    def __init__(self, expected: bytes | None = None, keep_bytes: int = KEEP_RECEIVED_BYTES):
        self.expected = expected
        self.keep_bytes = keep_bytes
        self.total = 0
        self.digest = hashlib.sha256()
        self.head = bytearray()
        self.first_difference: int | None = None
        self.last_data_at: float | None = None

    def add(self, chunk: bytes) -> None:
        if self.expected is not None and self.first_difference is None:
            reference = self.expected[self.total : self.total + len(chunk)]
            if reference != chunk:
                offset = next(
                    (i for i, (a, b) in enumerate(zip(reference, chunk, strict=False)) if a != b),
                    len(reference),
                )
                self.first_difference = self.total + offset
        if len(self.head) < self.keep_bytes:
            self.head += chunk[: self.keep_bytes - len(self.head)]
        self.digest.update(chunk)
        self.total += len(chunk)
        self.last_data_at = time.monotonic()

    def as_json(self) -> dict[str, Any]:
        difference = self.first_difference
        if self.expected is not None and difference is None and self.total < len(self.expected):
            difference = self.total
        return {
            "received": b64(bytes(self.head)),
            "received_bytes": self.total,
            "received_sha256": self.digest.hexdigest(),
            "first_difference": difference,
        }


SO_ATTACH_FILTER = 26  # linux/asm-generic/socket.h

# Classic BPF (linux/filter.h: code, jt, jf, k): accept a frame addressed to this host that is
# IPv4, TCP, the first fragment, with SYN set and ACK clear; its first 128 bytes are enough
# for the headers. Without it, every frame of the interface reaches Python, and an 8 MiB
# echo means 16 MiB of frames read in a thread that competes with the echo for the GIL.
SYN_FILTER = (
    (0x20, 0, 0, 0xFFFFF004),  # ld pkttype (SKF_AD_OFF + SKF_AD_PKTTYPE)
    (0x15, 0, 11, PACKET_HOST),  # jeq PACKET_HOST, else drop
    (0x28, 0, 0, 12),  # ldh [12]: the ethertype
    (0x15, 0, 9, ETH_P_IP),  # jeq IPv4, else drop
    (0x30, 0, 0, 23),  # ldb [23]: the IP protocol
    (0x15, 0, 7, 6),  # jeq TCP, else drop
    (0x28, 0, 0, 20),  # ldh [20]: flags and fragment offset
    (0x45, 5, 0, 0x1FFF),  # jset fragment offset: a later fragment, drop
    (0xB1, 0, 0, 14),  # ldxb 4 * ([14] & 0xf): the IP header's length
    (0x50, 0, 0, 27),  # ldb [x + 27]: the TCP flags
    (0x54, 0, 0, TCP_SYN | TCP_ACK),  # and SYN|ACK
    (0x15, 0, 1, TCP_SYN),  # jeq SYN alone, else drop
    (0x06, 0, 0, 128),  # ret 128: keep the frame's first 128 bytes
    (0x06, 0, 0, 0),  # ret 0: drop
)


def attach_filter(sock: socket.socket, program: tuple[tuple[int, int, int, int], ...]) -> Any:
    """Attaches a classic BPF `program` to `sock` (SO_ATTACH_FILTER); returns its buffer.

    The kernel copies the program; the buffer is returned so that it outlives the call.
    Raises OSError when the kernel refuses it, ImportError without ctypes.
    """
    import ctypes

    code = b"".join(struct.pack("HBBI", *instruction) for instruction in program)
    buffer = ctypes.create_string_buffer(code)
    fprog = struct.pack("HL", len(program), ctypes.addressof(buffer))  # struct sock_fprog
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    return buffer


class SynSniffer(threading.Thread):
    """Notes the destination port of every TCP SYN that arrives at this container.

    A socket filter hands it only those SYNs (SYN_FILTER); where the kernel refuses the
    filter, it reads every frame and picks the SYNs itself (`filtered` is then False).
    `frames` counts the frames it read.
    """

    def __init__(self, interface: str = "eth0", address: str | None = None) -> None:
        """`address`: only SYNs to this IPv4 address count (an interface shared by others)."""
        super().__init__(daemon=True)
        self.address = socket.inet_aton(address) if address and address != "0.0.0.0" else None
        self.ports: list[int] = []
        self.available = True
        self.filtered = False
        self.frames = 0
        try:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        except OSError:
            self.available = False
            return
        try:
            self._filter = attach_filter(self.sock, SYN_FILTER)
            self.filtered = True
            # Frames queued between socket() and the filter are checked below like any other.
        except (OSError, ImportError):  # ImportError: a Python built without ctypes
            pass
        try:
            self.sock.bind((interface, 0))
        except OSError:
            self.available = False

    def run(self) -> None:
        while self.available and len(self.ports) < SYN_PORTS_KEPT:
            frame, address = self.sock.recvfrom(65535)
            self.frames += 1
            if address[2] != PACKET_HOST or len(frame) < 34 or frame[23] != 6:
                continue
            tcp = 14 + (frame[14] & 0x0F) * 4
            if len(frame) < tcp + 14:
                continue
            flags = frame[tcp + 13]
            if self.address is not None and frame[30:34] != self.address:
                continue
            if flags & TCP_SYN and not flags & TCP_ACK:
                port = int.from_bytes(frame[tcp + 2 : tcp + 4], "big")
                if port not in self.ports:
                    self.ports.append(port)


# --- the TCP client ----------------------------------------------------------------------


def connection_time_s(options: dict[str, Any], payload_bytes: int) -> float:
    """How long one connection may take once connected: the read timeout plus the pauses."""
    chunk = options["chunk_bytes"]
    pieces = -(-payload_bytes // chunk) if chunk else 1
    pause_s = max(0, pieces - 1) * float(options["pause_ms"]) / 1000
    return float(options["read_timeout_s"]) + pause_s


def one_connection(
    options: dict[str, Any], payload: bytes, clock: Clock, observed: dict[str, Any], *, reset: bool
) -> None:
    """Connects, sends `payload` (in pieces if asked), reads until the server closes.

    Fills `observed` as it goes, so a report printed on SIGTERM shows the progress. `end` is
    fin (the server closed), rst, timeout (its time ran out), flood (the server sent
    FLOOD_MARGIN_BYTES more than it was sent) or none (no connection).
    """
    received = Received(expected=payload)
    delivered = [0]
    observed.update(connected=False, connect_error=None, end="none", delivered_bytes=0)
    observed.update(sent_bytes=len(payload), sent_sha256=hashlib.sha256(payload).hexdigest())
    observed.update(received.as_json())
    started = time.monotonic()
    try:
        connect_s = min(options["connect_timeout_s"], max(0.1, clock.remaining_s()))
        try:
            sock, reset_at_once = connect(
                options["host"], options["port"], connect_s, options.get("source"), observed
            )
        except OSError as e:
            observed["connect_error"] = f"{type(e).__name__}: {e}"
            return
        observed["connected"] = True
        if reset_at_once:  # what came before the reset is still in the socket: read it
            with sock:
                read_after_reset(sock, received)
            observed["end"] = "rst"
            return
        deadline = time.monotonic() + connection_time_s(options, len(payload))
        limit = len(payload) + FLOOD_MARGIN_BYTES
        with sock:
            try:
                if reset:  # send half, then close with SO_LINGER 0: the server sees a reset
                    half = payload[: max(1, len(payload) // 2)]
                    end = send_all(sock, half, 0, 0, received, delivered, clock, deadline, limit)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    observed["end"] = "rst" if end is None else end
                    return
                end = send_all(
                    sock,
                    payload,
                    options["chunk_bytes"],
                    options["pause_ms"],
                    received,
                    delivered,
                    clock,
                    deadline,
                    limit,
                )
                if end is None:
                    if options["half_close"]:
                        sock.shutdown(socket.SHUT_WR)
                    end = read_until_close(sock, clock, deadline, received, limit)
                observed["end"] = end
            except ConnectionResetError:
                observed["end"] = "rst"
            except OSError as e:
                observed["end"] = "rst" if "reset" in str(e).lower() else "none"
    finally:
        observed.update(received.as_json())
        observed["delivered_bytes"] = delivered[0]
        observed["elapsed_s"] = round(time.monotonic() - started, 3)
        last = received.last_data_at
        observed["idle_s"] = round(time.monotonic() - (last if last else started), 3)


def connect(
    host: str,
    port: int,
    timeout_s: float,
    source: str | None = None,
    observed: dict[str, Any] | None = None,
) -> tuple[socket.socket, bool]:
    """A connected socket, and whether the server had already reset the connection.

    Like socket.create_connection, except for a reset: connect() waits for the handshake and
    then asks the socket for its error, so on a busy machine a server that accepts, sends and
    resets (SO_LINGER 0) at once makes connect() itself raise ConnectionResetError. Only an
    established connection can be reset, so that is a connection, with the server's bytes
    still readable before the reset. `source`: the local address to connect from; its port,
    once bound, goes into `observed["local_port"]` (on the local backend every program may
    use that address, and the grader's connections are told apart by their ports). Raises
    OSError when no connection was made.
    """
    error: OSError | None = None
    for family, kind, protocol, _, address in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        sock = socket.socket(family, kind, protocol)
        sock.settimeout(timeout_s)
        try:
            if source and family == socket.AF_INET:
                sock.bind((source, 0))
                if observed is not None:
                    observed["local_port"] = sock.getsockname()[1]
            sock.connect(address)
            return sock, False
        except ConnectionResetError:
            return sock, True
        except OSError as e:
            sock.close()
            error = e
    raise error or OSError(f"no address for {host}")


def read_after_reset(sock: socket.socket, received: Received) -> None:
    """Reads what a reset connection still holds: Linux keeps the bytes that came before it."""
    sock.setblocking(False)
    while True:
        try:
            chunk = sock.recv(RECV_BYTES)
        except OSError:
            return
        if not chunk:
            return
        received.add(chunk)


def send_all(
    sock: socket.socket,
    payload: bytes,
    chunk_bytes: int,
    pause_ms: int,
    received: Received,
    delivered: list[int],
    clock: Clock,
    deadline: float,
    limit: int,
) -> str | None:
    """Sends while reading what already came back, so a big echo never deadlocks.

    Returns None once everything is sent, or how the connection ended before: fin, timeout
    or flood. `delivered[0]` counts the bytes the kernel took.
    """
    step = chunk_bytes or max(1, len(payload))
    sock.setblocking(False)
    try:
        for start in range(0, len(payload), step):
            if start and pause_ms:
                pause_s = min(pause_ms / 1000, clock.remaining_s(deadline))
                if pause_s > 0:
                    time.sleep(pause_s)  # the spec's pacing between pieces
            view = memoryview(payload)[start : start + step]
            while view:
                remaining = clock.remaining_s(deadline)
                if remaining <= 0:
                    return "timeout"
                readable, writable, _ = select.select([sock], [sock], [], min(remaining, 1.0))
                if readable:
                    chunk = sock.recv(RECV_BYTES)
                    if not chunk:
                        return "fin"
                    received.add(chunk)
                    if received.total > limit:
                        return "flood"
                if writable:
                    sent = sock.send(view)
                    delivered[0] += sent
                    view = view[sent:]
        return None
    finally:
        sock.setblocking(True)


def read_until_close(
    sock: socket.socket, clock: Clock, deadline: float, received: Received, limit: int
) -> str:
    while True:
        remaining = clock.remaining_s(deadline)
        if remaining <= 0:
            return "timeout"
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(RECV_BYTES)
        except TimeoutError:
            return "timeout"
        if not chunk:
            return "fin"
        received.add(chunk)
        if received.total > limit:
            return "flood"


def run_client(options: dict[str, Any], report: Report) -> None:
    """One connection after another; after one that timed out or was flooded it stops.

    Those two ends cost the whole connection time, and the check judges the first failing
    connection only, so the ones left are counted in `skipped` instead of being tried.
    """
    with open(options["send_file"], "rb") as f:
        payload = f.read()
    connections: list[dict[str, Any]] = []
    report.observed.update(connections=connections, reset_connection=None, skipped=0)
    if options["reset_first"]:
        report.observed["reset_connection"] = {}
        one_connection(
            options, payload, report.clock, report.observed["reset_connection"], reset=True
        )
    for number in range(options["connections"]):
        if report.clock.remaining_s() <= 0:
            report.observed["skipped"] = options["connections"] - number
            report.stop("deadline")
            return
        connections.append({})
        one_connection(options, payload, report.clock, connections[-1], reset=False)
        last = connections[-1]
        # An echo that came back whole but was never closed cost its time already; the next
        # clients still show whether the server serves them.
        echoed = last["received_sha256"] == last["sent_sha256"]
        if last["end"] == "flood" or (last["end"] == "timeout" and not echoed):
            report.observed["skipped"] = options["connections"] - number - 1
            report.stop("deadline" if connections[-1]["end"] == "timeout" else "flood")
            return


# --- the UDP client and echo server --------------------------------------------------------


def run_udp_client(options: dict[str, Any], report: Report) -> None:
    """Sends each datagram from each client socket in turn, and records every reply.

    With several clients the datagrams interleave: d1 from c1, d1 from c2, ... d2 from c1.
    It stops when every request has its reply and no more came for extra_wait_s, at the
    reply timeout, at its deadline, or after FLOOD_EXTRA_REPLIES replies too many.
    """
    clock = report.clock
    sent: list[str] = []
    replies: list[str] = []
    report.observed.update(sent=sent, replies=replies, replies_total=0)
    try:
        address = (socket.gethostbyname(options["host"]), options["port"])
    except OSError as e:
        # The name leaves the network with the server's container: the program had exited.
        # That is the program's doing, seen in its record, not a fault of this client.
        report.stop(f"no server: {options['host']} did not resolve ({e})")
        return
    # On loopback (the local backend) a server bound to 0.0.0.0 answers from 127.0.0.1,
    # whatever address the request went to: its port tells it.
    loopback_replies = bool(options.get("loopback_replies"))
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(options["clients"])]
    if options.get("source"):
        for sock in sockets:
            sock.bind((options["source"], 0))
        # Which datagrams are the grader's, where every program may use its address.
        report.observed["local_ports"] = [sock.getsockname()[1] for sock in sockets]
    per_client = [0] * len(sockets)
    totals = {"replies_total": 0, "reply_bytes_total": 0, "kept_bytes": 0}
    digest = hashlib.sha256()
    report.observed.update(replies_per_client=per_client)

    def note(index: int, data: bytes) -> None:
        per_client[index] += 1
        totals["replies_total"] += 1
        totals["reply_bytes_total"] += len(data)
        digest.update(len(data).to_bytes(4, "big") + data)
        if len(replies) < REPLIES_KEPT and totals["kept_bytes"] + len(data) <= REPLY_KEEP_BYTES:
            replies.append(b64(data))
            totals["kept_bytes"] += len(data)
        report.observed.update(
            replies_total=totals["replies_total"],
            reply_bytes_total=totals["reply_bytes_total"],
            replies_sha256=digest.hexdigest(),
        )

    report.observed.update(replies_total=0, reply_bytes_total=0, replies_sha256=digest.hexdigest())
    try:
        for index, piece in enumerate(options["send"]):
            if index and options["pause_ms"]:
                time.sleep(min(options["pause_ms"] / 1000, max(0.0, clock.remaining_s())))
            for sock in sockets:
                sock.sendto(base64.b64decode(piece), address)
                sent.append(piece if len(piece) <= REPLY_KEEP_BYTES else "")
        deadline = time.monotonic() + options["reply_timeout_s"]
        flood_at = len(sent) + FLOOD_EXTRA_REPLIES
        while True:
            remaining = clock.remaining_s(deadline)
            if remaining <= 0:
                if clock.remaining_s() <= 0:
                    report.stop("deadline")
                elif totals["replies_total"] < len(sent):
                    report.stop("reply timeout")
                break
            readable, _, _ = select.select(sockets, [], [], remaining)
            if not readable:
                continue
            for index, sock in enumerate(sockets):
                if sock not in readable:
                    continue
                try:
                    data, source = sock.recvfrom(65535)
                except OSError:  # ICMP port unreachable surfaces as ConnectionRefusedError
                    continue
                if source == address or (loopback_replies and from_loopback(source, address)):
                    note(index, data)
            if totals["replies_total"] >= flood_at:
                report.stop("flood")
                break
            if totals["replies_total"] >= len(sent):
                deadline = min(deadline, time.monotonic() + options["extra_wait_s"])
    finally:
        for sock in sockets:
            sock.close()


def from_loopback(source: tuple[str, int], address: tuple[str, int]) -> bool:
    """A reply from the server's port on a loopback address, for a server on loopback."""
    return (
        source[1] == address[1] and source[0].startswith("127.") and address[0].startswith("127.")
    )


def run_udp_echo(options: dict[str, Any], report: Report) -> None:
    """A model UDP echo server: each datagram goes back to its sender, until SIGTERM."""
    clock = report.clock
    report.observed["echoed"] = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((options.get("bind", "0.0.0.0"), options["port"]))
        print("READY", flush=True)
        while (remaining := clock.remaining_s()) > 0:
            readable, _, _ = select.select([sock], [], [], remaining)
            if not readable:
                continue
            try:
                data, source = sock.recvfrom(65535)
                sock.sendto(data, source)
            except OSError:
                continue
            report.observed["echoed"] += 1
        report.stop("deadline")


# --- the TCP server ----------------------------------------------------------------------


def serve_one(listener: socket.socket, options: dict[str, Any], report: Report) -> None:
    clock, observed = report.clock, report.observed
    while True:  # wait for a client, but never past the deadline
        remaining = clock.remaining_s()
        if remaining <= 0:
            report.stop("deadline")
            return
        listener.settimeout(remaining)
        try:
            conn, _ = listener.accept()
            break
        except TimeoutError:
            continue
    observed["accepted"] = True
    received = Received()
    sent = Received()  # what this server sent, recorded the same bounded way
    try:
        with conn:
            if options["echo"]:
                echo(conn, clock, received, sent, report)
                return
            try:
                for index, piece in enumerate(options["send"]):
                    if index:
                        time.sleep(min(options["pause_ms"] / 1000, max(0.0, clock.remaining_s())))
                    data = base64.b64decode(piece)
                    conn.settimeout(max(0.1, clock.remaining_s()))
                    conn.sendall(data)
                    sent.add(data)
                conn.shutdown(socket.SHUT_WR)
                read_deadline = time.monotonic() + options["read_timeout_s"]
                while (remaining := clock.remaining_s(read_deadline)) > 0:
                    conn.settimeout(remaining)
                    chunk = conn.recv(RECV_BYTES)
                    if not chunk:
                        break
                    received.add(chunk)
                    if received.total > FLOOD_MARGIN_BYTES:
                        report.stop("flood")
                        break
            except OSError:
                pass
    finally:
        record_server_streams(observed, received, sent)


def record_server_streams(observed: dict[str, Any], received: Received, sent: Received) -> None:
    observed.update(received.as_json())
    observed["sent"] = b64(bytes(sent.head))
    observed["sent_bytes"] = sent.total


def echo(
    conn: socket.socket, clock: Clock, received: Received, sent: Received, report: Report
) -> None:
    """Reads until the client half-closes, then sends it all back and closes.

    Echoing only after the client's FIN makes the half-close visible in every capture (the
    data flows back after it), and a client that sends everything before it reads, as the
    lab's contract allows, can never deadlock against it. Past ECHO_LIMIT_BYTES the client
    is flooding: it stops reading and closes without echoing.
    """
    held = bytearray()
    try:
        while (remaining := clock.remaining_s()) > 0:
            conn.settimeout(remaining)
            chunk = conn.recv(RECV_BYTES)
            if not chunk:
                break
            received.add(chunk)
            if received.total > ECHO_LIMIT_BYTES:
                report.stop("flood")
                return
            held += chunk
        else:
            report.stop("deadline")
            return
        conn.settimeout(max(0.1, clock.remaining_s()))
        conn.sendall(held)
        sent.add(bytes(held))
        conn.shutdown(socket.SHUT_WR)
    except TimeoutError:
        report.stop("deadline")
    except OSError:
        pass


def run_server(options: dict[str, Any], report: Report, *, listen: bool) -> None:
    if not listen:
        # Without a listener it only waits for SIGTERM, taken as a value (sigtimedwait) rather
        # than as an exception raised inside a lock's wait. Blocked before the sniffer starts,
        # so that no thread of this process takes the signal in its place.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    sniffer = SynSniffer(options.get("interface", "eth0"), options.get("bind"))
    sniffer.start()
    report.observed.update(accepted=False, syn_ports=sniffer.ports)
    record_server_streams(report.observed, Received(), Received())
    if listen:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((options.get("bind", "0.0.0.0"), options["port"]))
            listener.listen(1)
            print("READY", flush=True)
            serve_one(listener, options, report)
    else:
        print("READY", flush=True)
        got = signal.sigtimedwait({signal.SIGTERM}, max(0.0, report.clock.remaining_s()))
        report.stop("terminated" if got is not None else "deadline")


# --- entry point ---------------------------------------------------------------------------


def main() -> None:
    signal.signal(signal.SIGTERM, on_sigterm)
    import probe_options  # type: ignore[import-not-found]  # beside this file

    options = probe_options.read(sys.argv[1])
    report = Report(Clock(float(options.get("deadline_s") or DEFAULT_DEADLINE_S)))
    mode = options["mode"]
    try:
        if options.get("stop_on_stdin"):  # inside: a stop may come at once (Terminated)
            import stop_on_stdin  # type: ignore[import-not-found]  # beside this file

            stop_on_stdin.start()
        if mode == "client":
            run_client(options, report)
        elif mode == "udp-client":
            run_udp_client(options, report)
        elif mode == "udp-echo":
            run_udp_echo(options, report)
        elif mode == "server":
            run_server(options, report, listen=True)
        elif mode == "closed":
            run_server(options, report, listen=False)
        else:
            report.stop(f"unknown mode {mode!r}")
    except Terminated:
        report.stop("terminated")
    except Exception as e:  # the grader's own fault; still report what was seen
        traceback.print_exc()
        report.stop(f"error: {type(e).__name__}: {e}")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print(report.line(), flush=True)


if __name__ == "__main__":
    main()
