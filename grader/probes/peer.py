"""The grader's instrumented peers: a reference client and a reference server.

Runs in a grader-owned container on the lab network. Takes one JSON argument, does what it
says, and prints one line `REPORT {json}` with what it observed. The server prints `READY`
once it listens. On SIGTERM it stops and still prints its report.
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
from typing import Any

ETH_P_IP = 0x0800
PACKET_HOST = 0
TCP_SYN = 0x02
TCP_ACK = 0x10


class Terminated(Exception):
    pass


def on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def report(observed: dict[str, Any]) -> None:
    print("REPORT " + json.dumps(observed), flush=True)


class SynSniffer(threading.Thread):
    """Notes the destination port of every TCP SYN that arrives at this container."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.ports: list[int] = []
        self.available = True
        try:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
            self.sock.bind(("eth0", 0))
        except OSError:
            self.available = False

    def run(self) -> None:
        while self.available:
            frame, address = self.sock.recvfrom(65535)
            if address[2] != PACKET_HOST or len(frame) < 34 or frame[23] != 6:
                continue
            tcp = 14 + (frame[14] & 0x0F) * 4
            if len(frame) < tcp + 14:
                continue
            flags = frame[tcp + 13]
            if flags & TCP_SYN and not flags & TCP_ACK:
                port = int.from_bytes(frame[tcp + 2 : tcp + 4], "big")
                if port not in self.ports:
                    self.ports.append(port)


KEEP_RECEIVED_BYTES = 64 * 1024


def first_difference(sent: bytes, received: bytes) -> int | None:
    if sent == received:
        return None
    for offset, (a, b) in enumerate(zip(sent, received, strict=False)):
        if a != b:
            return offset
    return min(len(sent), len(received))


def one_connection(options: dict[str, Any], payload: bytes, *, reset: bool) -> dict[str, Any]:
    """Connects, sends `payload` (in pieces if asked), reads until the server closes."""
    observed: dict[str, Any] = {"connected": False, "connect_error": None, "end": "none"}
    received = bytearray()
    try:
        sock = socket.create_connection(
            (options["host"], options["port"]), timeout=options["connect_timeout_s"]
        )
    except OSError as e:
        observed["connect_error"] = f"{type(e).__name__}: {e}"
        return observed | summary(payload, b"")
    observed["connected"] = True
    deadline = time.monotonic() + options["read_timeout_s"]
    try:
        with sock:
            if reset:  # send half, then close with SO_LINGER 0: the server sees a reset
                sock.sendall(payload[: max(1, len(payload) // 2)])
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                observed["end"] = "rst"
                return observed | summary(payload, b"")
            send_in_pieces(sock, payload, options["chunk_bytes"], options["pause_ms"], received)
            if options["half_close"]:
                sock.shutdown(socket.SHUT_WR)
            observed["end"] = read_until_close(sock, deadline, received)
    except ConnectionResetError:
        observed["end"] = "rst"
    except OSError as e:
        observed["end"] = "rst" if "reset" in str(e).lower() else "none"
    return observed | summary(payload, bytes(received))


def send_in_pieces(
    sock: socket.socket, payload: bytes, chunk_bytes: int, pause_ms: int, received: bytearray
) -> None:
    """Sends while reading what already came back, so a big echo never deadlocks."""
    pieces = (
        [payload[i : i + chunk_bytes] for i in range(0, len(payload), chunk_bytes)]
        if chunk_bytes
        else [payload]
    )
    sock.setblocking(False)
    try:
        for index, piece in enumerate(pieces):
            if index and pause_ms:
                time.sleep(pause_ms / 1000)
            view = memoryview(piece)
            while view:
                readable, writable, _ = select.select([sock], [sock], [], 5.0)
                if readable:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    received += chunk
                if writable:
                    view = view[sock.send(view) :]
    finally:
        sock.setblocking(True)


def read_until_close(sock: socket.socket, deadline: float, received: bytearray) -> str:
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "timeout"
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return "timeout"
        if not chunk:
            return "fin"
        received += chunk


def summary(sent: bytes, received: bytes) -> dict[str, Any]:
    return {
        "received": b64(received[:KEEP_RECEIVED_BYTES]),
        "received_bytes": len(received),
        "received_sha256": hashlib.sha256(received).hexdigest(),
        "sent_bytes": len(sent),
        "sent_sha256": hashlib.sha256(sent).hexdigest(),
        "first_difference": first_difference(sent, received),
    }


def run_client(options: dict[str, Any]) -> None:
    with open(options["send_file"], "rb") as f:
        payload = f.read()
    reset_connection = None
    if options["reset_first"]:
        reset_connection = one_connection(options, payload, reset=True)
    connections = [
        one_connection(options, payload, reset=False) for _ in range(options["connections"])
    ]
    report({"connections": connections, "reset_connection": reset_connection})


def run_udp_client(options: dict[str, Any]) -> None:
    """Sends each datagram from each client socket in turn, and records every reply.

    With several clients the datagrams interleave: d1 from c1, d1 from c2, ... d2 from c1.
    It stops when every request has its reply and no more came for extra_wait_s, or at the
    reply timeout.
    """
    address = (socket.gethostbyname(options["host"]), options["port"])
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(options["clients"])]
    replies: list[str] = []
    sent: list[str] = []
    try:
        for index, piece in enumerate(options["send"]):
            if index and options["pause_ms"]:
                time.sleep(options["pause_ms"] / 1000)
            for sock in sockets:
                sock.sendto(base64.b64decode(piece), address)
                sent.append(piece)
        deadline = time.monotonic() + options["reply_timeout_s"]
        while (remaining := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select(sockets, [], [], remaining)
            if not readable:
                break
            for sock in readable:
                try:
                    data, source = sock.recvfrom(65535)
                except OSError:  # ICMP port unreachable surfaces as ConnectionRefusedError
                    continue
                if source == address:
                    replies.append(b64(data))
            if len(replies) >= len(sent):
                deadline = min(deadline, time.monotonic() + options["extra_wait_s"])
    finally:
        for sock in sockets:
            sock.close()
    report({"sent": sent, "replies": replies})


def run_udp_echo(options: dict[str, Any]) -> None:
    """A model UDP echo server: each datagram goes back to its sender. Stops on SIGTERM."""
    count = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("0.0.0.0", options["port"]))
        print("READY", flush=True)
        try:
            while True:
                data, source = sock.recvfrom(65535)
                sock.sendto(data, source)
                count += 1
        except Terminated:
            pass
    report({"echoed": count})


def serve_one(listener: socket.socket, options: dict[str, Any], observed: dict[str, Any]) -> None:
    conn, _ = listener.accept()
    observed["accepted"] = True
    sent = bytearray()
    received = bytearray()
    with conn:
        if options["echo"]:
            echo(conn, observed)
            return
        try:
            for index, piece in enumerate(options["send"]):
                if index:
                    time.sleep(options["pause_ms"] / 1000)
                data = base64.b64decode(piece)
                conn.sendall(data)
                sent += data
            conn.shutdown(socket.SHUT_WR)
            conn.settimeout(options["read_timeout_s"])
            while chunk := conn.recv(65536):
                received += chunk
        except OSError:
            pass
    observed["sent"] = b64(bytes(sent))
    observed["received"] = b64(bytes(received))


def echo(conn: socket.socket, observed: dict[str, Any]) -> None:
    """Reads until the client half-closes, then sends it all back and closes.

    Echoing only after the client's FIN makes the half-close visible in every capture (the
    data flows back after it), and a client that sends everything before it reads, as the
    lab's contract allows, can never deadlock against it.
    """
    received = bytearray()
    try:
        while chunk := conn.recv(65536):
            received += chunk
        conn.sendall(received)
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    observed["received_bytes"] = len(received)
    observed["received_sha256"] = hashlib.sha256(received).hexdigest()


def run_server(options: dict[str, Any], listen: bool) -> None:
    sniffer = SynSniffer()
    sniffer.start()
    observed: dict[str, Any] = {"accepted": False, "sent": "", "received": "", "syn_ports": []}
    try:
        if listen:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind(("0.0.0.0", options["port"]))
                listener.listen(1)
                print("READY", flush=True)
                serve_one(listener, options, observed)
        else:
            print("READY", flush=True)
            threading.Event().wait()
    except Terminated:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        observed["syn_ports"] = list(sniffer.ports)
        report(observed)


def main() -> None:
    signal.signal(signal.SIGTERM, on_sigterm)
    options = json.loads(sys.argv[1])
    mode = options["mode"]
    if mode == "client":
        run_client(options)
    elif mode == "udp-client":
        run_udp_client(options)
    elif mode == "udp-echo":
        run_udp_echo(options)
    elif mode == "server":
        run_server(options, listen=True)
    elif mode == "closed":
        run_server(options, listen=False)
    else:
        sys.exit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
