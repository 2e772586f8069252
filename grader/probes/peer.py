"""The grader's instrumented peers: a reference client and a reference server.

Runs in a grader-owned container on the lab network. Takes one JSON argument, does what it
says, and prints one line `REPORT {json}` with what it observed. The server prints `READY`
once it listens. On SIGTERM it stops and still prints its report.
"""

from __future__ import annotations

import base64
import json
import signal
import socket
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


def run_client(options: dict[str, Any]) -> None:
    observed: dict[str, Any] = {
        "connected": False,
        "connect_error": None,
        "received": "",
        "end": "none",
    }
    received = bytearray()
    try:
        sock = socket.create_connection(
            (options["host"], options["port"]), timeout=options["connect_timeout_s"]
        )
    except OSError as e:
        observed["connect_error"] = f"{type(e).__name__}: {e}"
        report(observed)
        return
    observed["connected"] = True
    deadline = time.monotonic() + options["read_timeout_s"]
    try:
        with sock:
            payload = base64.b64decode(options["send"])
            if payload:
                sock.sendall(payload)
            if options["half_close"]:
                sock.shutdown(socket.SHUT_WR)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    observed["end"] = "timeout"
                    break
                sock.settimeout(remaining)
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    observed["end"] = "timeout"
                    break
                if not chunk:
                    observed["end"] = "fin"
                    break
                received += chunk
    except ConnectionResetError:
        observed["end"] = "rst"
    except OSError as e:
        observed["end"] = "rst" if "reset" in str(e).lower() else "none"
    observed["received"] = b64(bytes(received))
    report(observed)


def run_udp_client(options: dict[str, Any]) -> None:
    """Sends each datagram in turn and records every reply until the replies stop coming."""
    replies: list[str] = []
    sent: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        address = (socket.gethostbyname(options["host"]), options["port"])
        for index, piece in enumerate(options["send"]):
            if index and options["pause_ms"]:
                time.sleep(options["pause_ms"] / 1000)
            payload = base64.b64decode(piece)
            sock.sendto(payload, address)
            sent.append(piece)
        deadline = time.monotonic() + options["reply_timeout_s"]
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            try:
                data, source = sock.recvfrom(65535)
            except TimeoutError:
                break
            except OSError:  # ICMP port unreachable surfaces as ConnectionRefusedError
                break
            if source == address:
                replies.append(b64(data))
                if len(replies) >= len(sent):
                    deadline = min(deadline, time.monotonic() + options["extra_wait_s"])
    report({"sent": sent, "replies": replies})


def serve_one(listener: socket.socket, options: dict[str, Any], observed: dict[str, Any]) -> None:
    conn, _ = listener.accept()
    observed["accepted"] = True
    sent = bytearray()
    received = bytearray()
    with conn:
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
    elif mode == "server":
        run_server(options, listen=True)
    elif mode == "closed":
        run_server(options, listen=False)
    else:
        sys.exit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
