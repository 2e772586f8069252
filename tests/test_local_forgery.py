"""On the local backend a program cannot have its own traffic judged in place of the grader's.

Every program may bind any 127/8 address, the grader's client address included. Each
submission here makes a clean exchange of its own on the lab's port number, from or to an
address the grader also uses, and then gets the real exchange wrong: the packet check
about the real one must fail (grader.scenarios.local_runner.graders_traffic).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from grader.packets.model import CapturedPackets, Packet
from grader.sandbox.local import Lab
from grader.scenarios.local_runner import graders_traffic
from grader.scenarios.model import ClientPeerReport, Connection, ServerPeerReport, UdpPeerReport
from tests.conftest import GradedBatch, needs_capture, socketlab_with_pid
from tests.submissions import REPOSITORY

# The run's address is 127.0.N.2 and the grader's clients come from 127.0.N.3, with N the
# run's own: the forgeries try every N a few runs side by side would have.
RUNS = 16

CLEAN_CLOSE_OF_ITS_OWN = """\
import os, socket, struct
PORT = int(os.environ["SERVER_PORT"])
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", PORT))
listener.listen(64)
for n in range(RUNS):  # a clean exchange from each run's grader client address
    forged = socket.socket()
    forged.bind((f"127.0.{n}.3", 0))
    forged.connect((f"127.0.{n}.2", PORT))
    conn, _ = listener.accept()
    conn.sendall(b"Hello, Client!")
    conn.shutdown(socket.SHUT_WR)
    forged.recv(100)
    forged.close()
    conn.recv(10)
    conn.close()
conn, _ = listener.accept()  # the grader's client: an abortive close (RST)
conn.sendall(b"Hello, Client!")
conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
conn.close()
""".replace("range(RUNS)", f"range({RUNS})")

ECHOES_OF_ITS_OWN = """\
import os, signal, socket, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
PORT = int(os.environ["SERVER_PORT"])
def udp(address):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    return sock
main = udp(("0.0.0.0", PORT))
for n in range(RUNS):
    sink = udp((f"127.0.{n}.3", 0))
    main.sendto(b"z", sink.getsockname())  # the lab's endpoint, seen as a client
    fake_server = udp((f"127.0.{n}.3", PORT))  # a "server" on the lab's port number
    fake_client = udp((f"127.0.{n}.3", 0))
    fake_client.sendto(b"ping", fake_server.getsockname())
    data, sender = fake_server.recvfrom(100)
    fake_server.sendto(data, sender)
    fake_client.recv(100)
while True:
    main.recvfrom(65535)  # the grader's datagrams: never answered
""".replace("range(RUNS)", f"range({RUNS})")

HALF_CLOSE_OF_ITS_OWN = """\
import os, socket, struct, sys
HOST = os.environ["SERVER_HOST"]
PORT = int(os.environ["SERVER_PORT"])
data = sys.stdin.buffer.read()
neighbour = HOST.rpartition(".")[0] + ".4"
listener = socket.socket()
listener.bind((neighbour, PORT))  # a listener of its own on the lab's port number
listener.listen()
forged = socket.socket()
forged.bind((HOST, 0))  # from the lab's address
forged.connect((neighbour, PORT))
conn, _ = listener.accept()
forged.sendall(data)
forged.shutdown(socket.SHUT_WR)  # a proper half-close, on its own connection
while chunk := conn.recv(65536):
    conn.sendall(chunk)
conn.close()
forged.recv(65536)
forged.close()
sock = socket.create_connection((HOST, PORT))  # the grader's server: no half-close, a reset
sock.sendall(data)
sock.settimeout(1.0)
got = b""
try:
    while len(got) < len(data) and (chunk := sock.recv(65536)):
        got += chunk
except socket.timeout:
    pass
sys.stdout.buffer.write(got)
sys.stdout.flush()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
sock.close()
"""


def graded_locally(tmp_path: Path, lab: str, file: str, text: str) -> GradedBatch:
    """The lab's solution with `file` replaced by `text`, graded by `grade --backend local`."""
    submission = tmp_path / "forger"
    shutil.copytree(REPOSITORY / "solutions" / lab, submission)
    (submission / file).write_text(text)
    out = tmp_path / "out"
    process, pid = socketlab_with_pid(
        "grade", lab, str(submission), "--backend", "local", "--jobs", "1", "--out", str(out)
    )
    assert process.returncode in (0, 1), process.stdout + process.stderr
    return GradedBatch(out, process, pid)


@needs_capture
def test_a_clean_close_of_the_servers_own_from_the_grader_address_is_not_judged(
    tmp_path: Path,
) -> None:
    graded = graded_locally(tmp_path, "01-tcp-hello", "server.py", CLEAN_CLOSE_OF_ITS_OWN)
    assert "server-close" in graded.failed_checks("forger")


@needs_capture
def test_echoes_a_udp_server_makes_to_itself_are_not_judged(tmp_path: Path) -> None:
    graded = graded_locally(tmp_path, "03-udp-ping", "server.py", ECHOES_OF_ITS_OWN)
    boundaries = {"echo-exact", "back-to-back", "empty-datagram", "big-datagram", "three-clients"}
    assert boundaries <= graded.failed_checks("forger")


@needs_capture
def test_a_half_close_the_client_makes_to_a_listener_of_its_own_is_not_judged(
    tmp_path: Path,
) -> None:
    graded = graded_locally(tmp_path, "02-tcp-echo", "client.py", HALF_CLOSE_OF_ITS_OWN)
    assert "client-half-close" in graded.failed_checks("forger")


LAB = Lab("127.0.0.2", 20432)
CLIENT = LAB.client_address


def packet(number: int, source: tuple[str, int], destination: tuple[str, int]) -> Packet:
    return Packet(number, 0.0, "tcp", source, destination, b"")


def test_only_the_traffic_of_the_graders_own_sockets_is_kept() -> None:
    """Pure logic: which packets graders_traffic keeps, for each kind of grader peer."""
    packets = CapturedPackets(
        (
            packet(1, (CLIENT, 40001), (LAB.address, LAB.port)),  # the grader's client
            packet(2, (LAB.address, LAB.port), (CLIENT, 40001)),
            packet(3, (CLIENT, 40999), (LAB.address, LAB.port)),  # the program's, from C
            packet(4, (CLIENT, 40001), ("127.0.0.4", LAB.port)),  # to another address
            packet(5, ("127.0.0.1", 50000), (LAB.address, LAB.port)),  # to the grader's server
            packet(6, (LAB.address, 50001), ("127.0.0.4", LAB.port)),  # to its own listener
        ),
        cut=False,
    )
    connection = Connection(True, None, "fin", b"", local_port=40001)
    kept = {
        "tcp client": graders_traffic(packets, LAB, ClientPeerReport((connection,))),
        "udp client": graders_traffic(packets, LAB, UdpPeerReport((), (), local_ports=(40001,))),
        "server": graders_traffic(packets, LAB, ServerPeerReport(True, b"", b"", ())),
        "none": graders_traffic(packets, LAB, None),
    }
    numbers = {name: [p.number for p in found] for name, found in kept.items()}
    assert numbers == {
        "tcp client": [1, 2],
        "udp client": [1, 2],
        "server": [1, 2, 3, 5],
        "none": [1, 2, 3, 4, 5, 6],
    }
