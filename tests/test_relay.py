"""The relay on loopback, as a real process with real UDP sockets (no Docker needed)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from grader.sandbox.containers import PROBES_DIR


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A UDP echo server on loopback, for the relay to forward to."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, source = sock.recvfrom(65535)
            except TimeoutError:
                continue
            sock.sendto(data, source)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(sock.getsockname()[1])
    stop.set()
    thread.join()
    sock.close()


def run_relay(
    upstream_port: int, plan: dict[str, Any], datagrams: list[bytes], pause_s: float = 0.05
) -> tuple[list[bytes], dict[str, Any]]:
    """Sends the datagrams through a relay process and returns the replies and its report."""
    port = free_udp_port()
    options = {
        "port": port,
        "upstream_host": "127.0.0.1",
        "upstream_port": upstream_port,
        "plan": plan,
    }
    relay = subprocess.Popen(
        [sys.executable, str(PROBES_DIR / "relay.py"), json.dumps(options)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert relay.stdout is not None
        assert relay.stdout.readline().strip() == "READY"
        replies = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(1.5)
            for datagram in datagrams:
                client.sendto(datagram, ("127.0.0.1", port))
                time.sleep(pause_s)
            while True:
                try:
                    replies.append(client.recvfrom(65535)[0])
                except TimeoutError:
                    break
        relay.send_signal(signal.SIGTERM)
        out, _ = relay.communicate(timeout=10)
    finally:
        relay.kill()
    report = json.loads(next(line for line in out.splitlines() if line.startswith("REPORT "))[7:])
    return replies, report


def test_relay_drops_and_duplicates_replies_as_planned(echo_port: int) -> None:
    plan = {
        "to_client": {
            "rules": [{"action": "drop", "match": "^b$"}, {"action": "duplicate", "index": 3}]
        }
    }
    replies, report = run_relay(echo_port, plan, [b"a", b"b", b"c", b"d"])
    assert replies == [b"a", b"c", b"c", b"d"]
    actions = [(d["direction"], d["index"], d["action"]) for d in report["datagrams"]]
    assert ("to_client", 2, "drop") in actions
    assert ("to_client", 3, "duplicate") in actions


def test_relay_sends_copies_of_a_duplicated_reply_spaced_as_planned(echo_port: int) -> None:
    plan = {
        "to_client": {
            "rules": [{"action": "duplicate", "index": 1, "copies": 4, "interval_ms": 200}]
        }
    }
    port = free_udp_port()
    options = {"port": port, "upstream_host": "127.0.0.1", "upstream_port": echo_port}
    relay = subprocess.Popen(
        [sys.executable, str(PROBES_DIR / "relay.py"), json.dumps({**options, "plan": plan})],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert relay.stdout is not None and relay.stdout.readline().strip() == "READY"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(5)
            client.sendto(b"a", ("127.0.0.1", port))
            arrivals = []
            for _ in range(5):
                assert client.recvfrom(65535)[0] == b"a"
                arrivals.append(time.monotonic())
        relay.send_signal(signal.SIGTERM)
        out, _ = relay.communicate(timeout=10)
    finally:
        relay.kill()
    # The copies follow the reply 200, 400, 600 and 800 ms after it: never sooner.
    assert arrivals[-1] - arrivals[0] >= 0.75
    report = json.loads(next(line for line in out.splitlines() if line.startswith("REPORT "))[7:])
    replies = [d for d in report["datagrams"] if d["direction"] == "to_client"]
    assert [(d["action"], d["copies"]) for d in replies] == [("duplicate", 4)]
    sent = next(d for d in report["datagrams"] if d["direction"] == "to_server")
    assert 0 <= sent["at_ms"] <= replies[0]["at_ms"]


def test_relay_delays_and_reorders(echo_port: int) -> None:
    plan = {
        "to_client": {
            "rules": [
                {"action": "reorder", "index": 1},
                {"action": "delay", "index": 3, "delay_ms": 400},
            ]
        }
    }
    replies, _ = run_relay(echo_port, plan, [b"one", b"two", b"three", b"four"])
    assert replies == [b"two", b"one", b"four", b"three"]


def start_relay(upstream_port: int, **extra: Any) -> tuple[subprocess.Popen[str], int]:
    port = free_udp_port()
    options = {
        "port": port,
        "upstream_host": "127.0.0.1",
        "upstream_port": upstream_port,
        "plan": {},
        **extra,
    }
    relay = subprocess.Popen(
        [sys.executable, str(PROBES_DIR / "relay.py"), json.dumps(options)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert relay.stdout is not None
    assert relay.stdout.readline().strip() == "READY"
    return relay, port


def report_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("REPORT "))


def flood_until_echoed(port: int, wanted: int, window: int = 20) -> int:
    """Sends 1 kB datagrams through the relay at `port`, `window` at a time, each window's
    echoes awaited (up to 5 s), until `wanted` echoes came back or a whole window got none;
    returns how many came back.

    Waiting for the echoes paces the flood to what the relay forwards, so the count is a
    state reached, not a race with the kernel's socket buffers on a loaded machine.
    """
    echoed = sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(5.0)
        while echoed < wanted:
            for _ in range(window):
                client.sendto(b"x" * 1000 + str(sent).encode(), ("127.0.0.1", port))
                sent += 1
            before = echoed
            for _ in range(window):
                try:
                    client.recvfrom(65535)
                except TimeoutError:
                    break
                echoed += 1
            if echoed == before:  # nothing came back in 5 s: the relay is not forwarding
                break
    return echoed


def test_relay_keeps_a_bounded_log_of_a_flood(echo_port: int) -> None:
    relay, port = start_relay(echo_port)
    try:
        echoed = flood_until_echoed(port, wanted=1000)
        relay.send_signal(signal.SIGTERM)
        out, _ = relay.communicate(timeout=10)
    finally:
        relay.kill()
    line = report_line(out)
    report = json.loads(line[7:])
    assert report["stopped"] == "terminated"
    assert len(report["datagrams"]) == 300
    assert report["left_out"] == sum(report["totals"].values()) - 300
    assert echoed >= 1000
    assert report["totals"]["to_server forward"] >= echoed
    assert report["totals"]["to_client forward"] >= echoed
    assert len(line) < 256 * 1024


def test_relay_stops_at_its_deadline_and_reports(echo_port: int) -> None:
    relay, port = start_relay(echo_port, deadline_s=1.0)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.sendto(b"PING 1 1764300000.25", ("127.0.0.1", port))
        out, _ = relay.communicate(timeout=10)  # no SIGTERM: it stops by itself
    finally:
        relay.kill()
    report = json.loads(report_line(out)[7:])
    assert report["stopped"] == "deadline"
    assert report["totals"]["to_server forward"] == 1


def test_relay_bounds_the_bytes_it_holds_for_later(echo_port: int) -> None:
    """Big datagrams held back by a delay are capped in bytes, not only in number."""
    plan = {"to_server": {"rules": [{"action": "delay", "match": "", "delay_ms": 5000}]}}
    relay, port = start_relay(echo_port, plan=plan)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            for _ in range(400):  # 24 MB, past the relay's 16 MB
                client.sendto(b"x" * 60_000, ("127.0.0.1", port))
                time.sleep(0.002)
        relay.send_signal(signal.SIGTERM)
        out, _ = relay.communicate(timeout=10)
    finally:
        relay.kill()
    report = json.loads(report_line(out)[7:])
    dropped = [d for d in report["datagrams"] if d["action"] == "drop"]
    assert dropped, report["totals"]
    assert all("bytes waiting" in d["reason"] for d in dropped)


def test_relay_with_its_own_echo_upstream_answers_each_client_apart() -> None:
    """`echo_upstream`: the grader's echo server inside the relay, one upstream socket per
    client as with a real peer, and the plan still applied on the way back."""
    plan = {"to_client": {"rules": [{"action": "drop", "match": "^drop"}]}}
    relay, port = start_relay(0, echo_upstream=True, plan=plan)
    try:
        first = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        second = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with first, second:
            for sock, payload in ((first, b"one"), (second, b"two"), (first, b"drop me")):
                sock.settimeout(5.0)
                sock.sendto(payload, ("127.0.0.1", port))
            assert first.recvfrom(100)[0] == b"one"
            assert second.recvfrom(100)[0] == b"two"
            first.settimeout(0.5)
            with pytest.raises(TimeoutError):
                first.recvfrom(100)
        relay.send_signal(signal.SIGTERM)
        out, _ = relay.communicate(timeout=10)
    finally:
        relay.kill()
    report = json.loads(report_line(out)[7:])
    assert report["totals"] == {"to_server forward": 3, "to_client forward": 2, "to_client drop": 1}
