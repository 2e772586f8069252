"""Where a server listens, what it sends and how it closes: verdicts from made observations.

No Docker: the observations, captures included, are built here; the probes' own logic
(sock_diag parsing, a connect that the server resets at once) runs on this machine.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
from pathlib import Path

import dpkt
import pytest

from grader.checks import check_kinds
from grader.checks.base import Verdict
from grader.packets.conversation import conversation
from grader.packets.model import ACK, FIN, PSH, RST
from grader.packets.pcap import read_packets
from grader.probes import listen_watch, peer
from grader.scenarios.model import (
    Capture,
    ClientPeerReport,
    ClientSessionObservation,
    Connection,
    Listener,
    ListenObservation,
    ProgramRun,
    ServerSessionObservation,
)
from grader.spec.loader import load_spec
from tests.pcaps import PcapWriter
from tests.submissions import REPOSITORY

LAB = load_spec(REPOSITORY / "labs" / "01-tcp-hello" / "spec.yaml")
PORT = 50432
GREETING = b"Hello, Client!"
SERVER_EXITED = ProgramRun(file="server.py", exit_code=0)


def judge(check_id: str, observation: object) -> Verdict:
    check = next(check for check in LAB.checks if check.id == check_id)
    return check_kinds()[check.kind].verdict(check.params, observation, LAB)  # type: ignore[arg-type]


def text(verdict: Verdict) -> str:
    parts = (verdict.summary, verdict.expected, verdict.received, verdict.cause, *verdict.diagram)
    return "\n".join(part for part in parts if part)


def session(
    listener: Listener,
    received: bytes = GREETING,
    end: str = "fin",
    capture: Capture | None = None,
    server: ProgramRun = SERVER_EXITED,
) -> ServerSessionObservation:
    connected = listener.reachable
    connection = Connection(
        connected=connected,
        connect_error=None if connected else "ConnectionRefusedError: [Errno 111]",
        end=end if connected else "none",  # type: ignore[arg-type]
        received=received if connected else b"",
        received_bytes=len(received) if connected else 0,
    )
    return ServerSessionObservation(
        server=server,
        listen=ListenObservation(PORT, (listener,), 0.1),
        peer=ClientPeerReport(connections=(connection,)),
        capture=capture,
    )


def captured(tmp_path: Path, writer: PcapWriter) -> Capture:
    pcap = writer.write(tmp_path / "capture.pcap")
    return Capture(pcap, conversation(read_packets(pcap)))


# --- where a server listens -------------------------------------------------------------


def test_a_server_bound_to_its_host_names_address_fails_the_listening_check_alone() -> None:
    seen = session(Listener("10.213.0.2", PORT))
    verdict = judge("server-listens", seen)
    assert not verdict.passed
    assert "not on all interfaces" in verdict.summary
    assert verdict.cause is not None and "localhost" in verdict.cause
    assert "'0.0.0.0'" in verdict.cause
    assert judge("server-greeting", seen).passed  # the grader's client reached it there


def test_an_ipv6_only_server_is_named_so_by_every_check_that_needed_a_connection() -> None:
    seen = session(Listener("::", PORT, ipv6_only=True))
    listens = judge("server-listens", seen)
    assert not listens.passed
    assert "IPv6 only" in listens.summary
    assert listens.cause is not None and "dualstack_ipv6=True" in listens.cause
    for check_id in ("server-greeting", "server-exit", "end-to-end"):
        verdict = judge(check_id, seen)
        assert not verdict.passed
        assert "IPv6 only" in verdict.summary, check_id
        assert "127.0.0.1" not in text(verdict) and "accept()" not in text(verdict), check_id


def test_an_ipv6_only_server_refusing_the_handshake_is_explained_by_its_socket(
    tmp_path: Path,
) -> None:
    writer = PcapWriter()
    writer.tcp(True, 0x02, ack=0)
    writer.tcp(False, RST | ACK)
    seen = session(Listener("::", PORT, ipv6_only=True), capture=captured(tmp_path, writer))
    verdict = judge("server-handshake", seen)
    assert not verdict.passed
    assert verdict.cause is not None and "IPv6 only" in verdict.cause
    assert "127.0.0.1" not in text(verdict) and "wrong port" not in text(verdict)
    assert "IPv6 only" in judge("server-close", seen).summary


def test_a_dual_stack_ipv6_server_listens_on_all_interfaces() -> None:
    verdict = judge("server-listens", session(Listener("::", PORT, ipv6_only=False)))
    assert verdict.passed, verdict
    assert "all interfaces" in verdict.summary and "dual-stack" in verdict.summary


# --- what a server sends -----------------------------------------------------------------


def test_a_server_that_waits_for_the_client_to_speak_is_told_the_server_speaks_first() -> None:
    verdict = judge("server-greeting", session(Listener("0.0.0.0", PORT), b"", "timeout"))
    assert not verdict.passed
    assert "sent nothing" in verdict.summary and "still open" in verdict.summary
    assert verdict.cause is not None and "speaks first" in verdict.cause
    assert "closed the connection" not in text(verdict)


def greeting_then_reset(writer: PcapWriter) -> None:
    writer.handshake()
    writer.tcp(False, PSH | ACK, GREETING)
    writer.tcp(True, ACK)
    writer.tcp(False, RST | ACK)


def test_bytes_a_reset_took_from_the_client_are_judged_from_the_wire(tmp_path: Path) -> None:
    writer = PcapWriter()
    greeting_then_reset(writer)
    seen = session(Listener("0.0.0.0", PORT), b"", "rst", captured(tmp_path, writer))
    verdict = judge("server-greeting", seen)
    assert verdict.passed, verdict
    assert "seen on the wire" in verdict.summary
    assert not judge("server-close", seen).passed  # the reset is the close's fault


# --- how a server closes -----------------------------------------------------------------


def test_a_server_that_never_closes_fails_the_close_though_the_grader_closed_after_it(
    tmp_path: Path,
) -> None:
    writer = PcapWriter()
    writer.handshake()
    writer.tcp(False, PSH | ACK, GREETING)
    writer.tcp(True, ACK)
    writer.tcp(True, FIN | ACK)  # the grader's client gives up
    writer.tcp(False, ACK)
    writer.tcp(False, FIN | ACK)  # the server's, when the grader stopped it
    stopped = ProgramRun(file="server.py", exit_code=None, timed_out=True)
    seen = session(
        Listener("0.0.0.0", PORT), GREETING, "timeout", captured(tmp_path, writer), stopped
    )
    verdict = judge("server-close", seen)
    assert not verdict.passed
    assert "did not close" in verdict.summary
    assert verdict.received is not None and "stopped the server" in verdict.received
    assert any("gave up" in line for line in verdict.diagram)
    assert judge("server-greeting", seen).passed


def test_the_grader_clients_reset_after_it_gave_up_is_not_blamed_on_the_server(
    tmp_path: Path,
) -> None:
    writer = PcapWriter()
    writer.handshake()
    writer.tcp(True, FIN | ACK)  # the grader's client gives up, having received nothing
    writer.tcp(False, PSH | ACK, GREETING)  # the server answers the client's FIN
    writer.tcp(True, RST)
    seen = session(Listener("0.0.0.0", PORT), b"", "timeout", captured(tmp_path, writer))
    verdict = judge("server-close", seen)
    assert not verdict.passed
    assert "the server did not close" in verdict.summary
    assert "reset the connection" not in text(verdict)
    assert verdict.cause is not None and "speaks first" in verdict.cause


# --- the probes --------------------------------------------------------------------------


def test_sock_diag_messages_give_the_inode_and_the_ipv6_only_option() -> None:
    body = bytearray(listen_watch.INET_DIAG_MSG_BYTES)
    body[68:72] = (4242).to_bytes(4, sys.byteorder)
    attribute = struct.pack("=HHB3x", 5, listen_watch.INET_DIAG_SKV6ONLY, 1)
    assert listen_watch.diag_message(bytes(body) + attribute) == (4242, True)
    assert listen_watch.diag_message(bytes(body)) == (4242, False)


def test_the_listen_watcher_tells_an_ipv6_only_socket_from_a_dual_stack_one() -> None:
    if not socket.has_ipv6:
        pytest.fail("this machine's Python has no IPv6 sockets")
    only = socket.create_server(("::", 0), family=socket.AF_INET6)
    both = socket.create_server(("", 0), family=socket.AF_INET6, dualstack_ipv6=True)
    with only, both:
        found = listen_watch.listeners("tcp")
        assert ("::", only.getsockname()[1], True) in found
        assert ("::", both.getsockname()[1], False) in found


class ResetDuringConnect(socket.socket):
    """connect() as on a busy machine: the server's bytes and reset arrive before it returns."""

    server_done = threading.Event()

    def connect(self, address: object) -> None:
        super().connect(address)  # type: ignore[arg-type]
        self.server_done.wait(5)
        self.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)  # what CPython's connect reads
        raise ConnectionResetError(104, "Connection reset by peer")


def test_the_reference_client_keeps_the_bytes_of_a_connection_reset_during_connect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        conn.sendall(GREETING)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        ResetDuringConnect.server_done.set()

    thread = threading.Thread(target=serve)
    thread.start()
    monkeypatch.setattr(peer.socket, "socket", ResetDuringConnect)
    options = {"host": "127.0.0.1", "port": port, "connect_timeout_s": 5.0}
    observed: dict[str, object] = {}
    try:
        peer.one_connection(
            {**options, "read_timeout_s": 5.0, "chunk_bytes": 0, "pause_ms": 0},
            b"",
            peer.Clock(30),
            observed,
            reset=False,
        )
    finally:
        thread.join()
        listener.close()
    assert observed["connected"] is True
    assert observed["end"] == "rst"
    assert observed["received_bytes"] == len(GREETING)


LAB02 = load_spec(REPOSITORY / "labs" / "02-tcp-echo" / "spec.yaml")


def written_at(writer: PcapWriter, path: Path, times_s: list[float]) -> Capture:
    """The writer's frames in a capture, each at its time (seconds from the first)."""
    with path.open("wb") as f:
        pcap = dpkt.pcap.Writer(f, linktype=dpkt.pcap.DLT_EN10MB)
        for frame, time_s in zip(writer.frames, times_s, strict=True):
            pcap.writepkt(frame, ts=1_700_000_000 + time_s)
    return Capture(path, conversation(read_packets(path)))


def half_close_verdict(capture: Capture, client: ProgramRun) -> Verdict:
    check = next(check for check in LAB02.checks if check.id == "client-half-close")
    seen = ClientSessionObservation(client=client, peer=None, server_port=PORT, capture=capture)
    return check_kinds()[check.kind].verdict(check.params, seen, LAB02)


def test_a_client_stopped_by_the_grader_is_not_told_it_called_close(tmp_path: Path) -> None:
    writer = PcapWriter()
    writer.handshake()
    writer.tcp(True, PSH | ACK, b"half-close me\n")
    writer.tcp(False, ACK)
    writer.tcp(True, FIN | ACK)  # the kernel's, when the grader stopped the client
    writer.tcp(False, PSH | ACK, b"half-close me\n")
    writer.tcp(True, RST)
    times_s = [0.0, 0.001, 0.002, 0.003, 0.004, 14.8, 14.81, 14.82]
    stopped = ProgramRun(file="client.py", exit_code=None, timed_out=True, elapsed_s=15.0)
    verdict = half_close_verdict(written_at(writer, tmp_path / "c.pcap", times_s), stopped)
    assert not verdict.passed
    assert "stopped by the grader" in verdict.summary
    assert "close() ends both directions" not in text(verdict)
    assert verdict.cause is not None and "shutdown(socket.SHUT_WR)" in verdict.cause


def test_a_client_that_closed_completely_at_once_is_still_told_so(tmp_path: Path) -> None:
    writer = PcapWriter()
    writer.handshake()
    writer.tcp(True, PSH | ACK, b"half-close me\n")
    writer.tcp(True, FIN | ACK)
    writer.tcp(False, PSH | ACK, b"half-close me\n")
    writer.tcp(True, RST)
    times_s = [0.0, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006]
    exited = ProgramRun(file="client.py", exit_code=0, elapsed_s=0.2)
    verdict = half_close_verdict(written_at(writer, tmp_path / "c.pcap", times_s), exited)
    assert not verdict.passed
    assert "closed completely" in verdict.summary
