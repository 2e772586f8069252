"""A lab network reaches its own containers and nothing else: not the host, not outside DNS.

The test opens its own TCP and UDP listeners on this machine (0.0.0.0 and `::`), then runs a
"student" program on a real lab network through the grader's own sandbox code. The program
tries every host address it can find -- its gateway from /proc/net/route, the default
bridge's 172.17.0.1, host.docker.internal, and each of this machine's own addresses, which
the test passes in -- and reports what happened. Traffic only ever goes to this machine.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from grader.sandbox import image, labels, network
from grader.sandbox.containers import LabContext
from grader.scenarios.steps import finish_program
from grader.spec.model import Limits

pytestmark = pytest.mark.docker

ATTEMPT_TIMEOUT_S = 1.5
QUICK_S = ATTEMPT_TIMEOUT_S + 1.0
UNKNOWN_NAME_S = 0.5
PEER_PORT = 7070
REPORT_PREFIX = "ISOLATION "

PROBER = r"""
import concurrent.futures, ipaddress, json, os, socket, struct, time

TIMEOUT = float(os.environ["ATTEMPT_TIMEOUT_S"])
PORTS = json.loads(os.environ["PORTS"])


def gateway():
    with open("/proc/net/route") as f:
        for row in f.read().splitlines()[1:]:
            fields = row.split()
            if fields[1] == "00000000":
                return socket.inet_ntoa(struct.pack("<I", int(fields[2], 16)))
    return None


def resolve(name):
    started = time.monotonic()
    try:
        found = sorted({info[4][0] for info in socket.getaddrinfo(name, None)})
        error = None
    except OSError as e:
        found, error = [], repr(e)
    return {"name": name, "addresses": found, "error": error,
            "elapsed_s": time.monotonic() - started}


def target(address, port):
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return socket.AF_INET, (address, port)
    scope = socket.if_nametoindex("eth0") if ip.is_link_local else 0
    return socket.AF_INET6, (address, port, 0, scope)


def attempt(address, protocol):
    family = socket.AF_INET if ipaddress.ip_address(address).version == 4 else socket.AF_INET6
    port = PORTS[protocol + ("4" if family == socket.AF_INET else "6")]
    started = time.monotonic()
    outcome = "no answer"
    try:
        family, destination = target(address, port)
        kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
        with socket.socket(family, kind) as s:
            s.settimeout(TIMEOUT)
            if protocol == "tcp":
                s.connect(destination)
                outcome = "connected"
            else:
                s.sendto(b"probe from a lab network", destination)
                s.recvfrom(100)
                outcome = "answered"
    except socket.timeout:
        outcome = "timed out"
    except OSError as e:
        outcome = f"failed: {e!r}"
    return {"address": address, "protocol": protocol, "outcome": outcome,
            "elapsed_s": time.monotonic() - started}


def talk_to_peer(name):
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection((name, int(os.environ["PEER_PORT"])), timeout=5) as s:
                s.sendall(b"ping")
                s.shutdown(socket.SHUT_WR)
                return s.recv(100).decode()
        except OSError as e:
            if time.monotonic() > deadline:
                return f"failed: {e!r}"
            time.sleep(0.1)  # polling for the peer to listen, not synchronising on time


def can_listen(dualstack):
    try:
        server = socket.create_server(("::", 0), family=socket.AF_INET6, dualstack_ipv6=dualstack)
        server.close()
        return "ok"
    except OSError as e:
        return f"failed: {e!r}"


def ipv6_addresses():
    try:
        with open("/proc/net/if_inet6") as f:
            return [row.split()[0] for row in f.read().splitlines()]
    except OSError as e:
        return [f"unreadable: {e!r}"]


host_names = [resolve("host.docker.internal"), resolve("gateway.docker.internal")]
addresses = {"172.17.0.1", *json.loads(os.environ["HOST_ADDRESSES"])}
if gateway():
    addresses.add(gateway())
for found in host_names:
    addresses.update(found["addresses"])
with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
    attempts = list(pool.map(lambda a: attempt(*a),
                             [(a, p) for a in sorted(addresses) for p in ("tcp", "udp")]))
report = {
    "gateway": gateway(),
    "attempts": attempts,
    "host_names": host_names,
    "unknown_names": [resolve(n) for n in ("example.invalid", "example.com", "socketlab.test")],
    "lab_names": [resolve("server"), resolve(os.environ["PEER_NAME"])],
    "peer_said": talk_to_peer("server"),
    "ipv6_addresses": ipv6_addresses(),
    "listen_ipv6_only": can_listen(False),
    "listen_dualstack": can_listen(True),
}
print("ISOLATION " + json.dumps(report), flush=True)
"""

PEER = r"""
import os, socket
with socket.create_server(("0.0.0.0", int(os.environ["PEER_PORT"]))) as server:
    connection, _ = server.accept()
    with connection:
        connection.recv(100)
        connection.sendall(b"pong")
"""


@dataclass
class HostListener:
    """A TCP and a UDP socket on one host address; remembers whoever reached them."""

    family: socket.AddressFamily
    address: str
    reached_by: list[str] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        tcp = socket.socket(self.family, socket.SOCK_STREAM)
        udp = socket.socket(self.family, socket.SOCK_DGRAM)
        for s in (tcp, udp):
            if self.family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((self.address, 0))
            s.settimeout(0.2)
            self._sockets.append(s)
        tcp.listen(16)
        self.ports = {"tcp": tcp.getsockname()[1], "udp": udp.getsockname()[1]}
        self._threads = [
            threading.Thread(target=self._accept, args=(tcp,), daemon=True),
            threading.Thread(target=self._receive, args=(udp,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _accept(self, tcp: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                connection, peer = tcp.accept()
            except TimeoutError:
                continue
            self.reached_by.append(f"tcp from {peer[0]}")
            connection.close()

    def _receive(self, udp: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                data, peer = udp.recvfrom(100)
            except TimeoutError:
                continue
            self.reached_by.append(f"udp from {peer[0]}: {data!r}")
            udp.sendto(b"the host answered", peer)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        for s in self._sockets:
            s.close()


def host_addresses() -> list[str]:
    """Every non-loopback address of this machine (Docker bridges included), from `ip -j addr`."""
    shown = json.loads(subprocess.run(["ip", "-j", "addr"], capture_output=True, check=True).stdout)
    found = set()
    for interface in shown:
        for address in interface.get("addr_info", []):
            if address.get("scope") != "host":
                found.add(address["local"])
    return sorted(found)


@dataclass(frozen=True)
class Probed:
    report: dict[str, Any]
    reached_host: list[str]
    host_addresses: list[str]
    other_network_gateway: str


def _submission(files: dict[str, str]) -> tempfile.TemporaryDirectory[str]:
    """A directory the container user (65534) can read, with the given files."""
    directory = tempfile.TemporaryDirectory(prefix="socketlab-isolation-")
    os.chmod(directory.name, 0o755)
    for name, text in files.items():
        path = Path(directory.name) / name
        path.write_text(text)
        path.chmod(0o644)
    return directory


@pytest.fixture(scope="module")
def probed(docker_ready: Any) -> Iterator[Probed]:
    """The prober's report, and what the host listeners saw while it ran."""
    client = docker_ready
    run = labels.RunLabels.new()
    with ExitStack() as cleanup:
        cleanup.callback(labels.sweep, client, run_id=run.run_id, stale_only=False)
        listeners = [HostListener(socket.AF_INET, "0.0.0.0"), HostListener(socket.AF_INET6, "::")]
        for listener in listeners:
            cleanup.callback(listener.close)
        # a network made the way lab networks were before: its gateway is a host address
        other = client.networks.create(
            f"socketlab-{run.run_id}-other", driver="bridge", internal=True, labels=run.as_dict()
        )
        other.reload()
        other_gateway = other.attrs["IPAM"]["Config"][0]["Gateway"]
        addresses = host_addresses()
        ports = {
            f"{protocol}{version}": listener.ports[protocol]
            for version, listener in zip("46", listeners, strict=True)
            for protocol in ("tcp", "udp")
        }
        submission = Path(
            cleanup.enter_context(_submission({"prober.py": PROBER, "peer.py": PEER}))
        )
        lab = cleanup.enter_context(network.lab_network(client, run))
        context = LabContext(client, image.runtime_image(), lab, run, Limits())
        peer = cleanup.enter_context(
            context.student_program(
                submission, "peer.py", {"PEER_PORT": str(PEER_PORT)}, "server", "peer"
            )
        )
        environment = {
            "ATTEMPT_TIMEOUT_S": str(ATTEMPT_TIMEOUT_S),
            "PORTS": json.dumps(ports),
            "HOST_ADDRESSES": json.dumps(addresses),
            # Docker registers a container's short id (its hostname) on the network, not a
            # generated name; the grader names none of its containers
            "PEER_NAME": peer.id[:12],
            "PEER_PORT": str(PEER_PORT),
        }
        with context.student_program(
            submission, "prober.py", environment, None, "prober"
        ) as prober:
            run_record = finish_program(prober, "prober.py", timeout_s=120)
    lines = run_record.stdout.decode(errors="replace").splitlines()
    reports = [line.removeprefix(REPORT_PREFIX) for line in lines if line.startswith(REPORT_PREFIX)]
    assert reports, f"the prober printed no report: {run_record}"
    reached = [entry for listener in listeners for entry in listener.reached_by]
    yield Probed(json.loads(reports[-1]), reached, addresses, other_gateway)


def test_a_lab_container_reaches_no_host_address_over_tcp_or_udp(probed: Probed) -> None:
    attempts = probed.report["attempts"]
    tried = {attempt["address"] for attempt in attempts}
    expected = {"172.17.0.1", probed.report["gateway"], probed.other_network_gateway}
    assert {*expected, *probed.host_addresses} <= tried
    reached = [a for a in attempts if a["outcome"] in ("connected", "answered")]
    assert not reached, f"host addresses answered a lab container: {reached}"


def test_every_attempt_to_reach_the_host_fails_quickly(probed: Probed) -> None:
    slow = [a for a in probed.report["attempts"] if a["elapsed_s"] > QUICK_S]
    assert not slow, f"attempts took longer than {QUICK_S} s: {slow}"


def test_the_host_listeners_receive_nothing_from_a_lab_network(probed: Probed) -> None:
    assert probed.reached_host == []


def test_the_host_has_no_name_inside_a_lab_network(probed: Probed) -> None:
    for found in probed.report["host_names"]:
        assert found["addresses"] == [], found
        assert found["elapsed_s"] < UNKNOWN_NAME_S, found


def test_an_unknown_name_fails_at_once_inside_a_lab_network(probed: Probed) -> None:
    for found in probed.report["unknown_names"]:
        assert found["addresses"] == [], found
        assert found["elapsed_s"] < UNKNOWN_NAME_S, found


def test_aliases_and_container_names_still_resolve(probed: Probed) -> None:
    for found in probed.report["lab_names"]:
        assert found["error"] is None, found
        assert found["addresses"], found


def test_two_containers_on_a_lab_network_still_talk(probed: Probed) -> None:
    assert probed.report["peer_said"] == "pong"


def test_a_lab_container_has_no_ipv6_address_to_reach_the_host_with(probed: Probed) -> None:
    loopback = "0" * 31 + "1"  # ::1 reaches nothing but the container itself
    assert [a for a in probed.report["ipv6_addresses"] if a != loopback] == []


def test_a_server_can_still_listen_on_the_ipv6_any_address(probed: Probed) -> None:
    assert probed.report["listen_ipv6_only"] == "ok"
    assert probed.report["listen_dualstack"] == "ok"
