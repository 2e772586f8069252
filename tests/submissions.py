"""Broken submissions: the reference solution with one deliberate mistake each.

Each entry names the mistake, the edit that makes it (old text -> new text in one file of the
solution), the exact set of checks it must fail, and words its feedback must contain. A
grading check that no entry here fails could never fail, so every check id appears at least
once in some `fails` set (a test enforces it).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent

LAB01_SERVER_CHECKS = frozenset(
    {"server-listens", "server-handshake", "server-greeting", "server-close", "server-exit"}
)
LAB01_CLIENT_CONNECT_CHECKS = frozenset(
    {"client-greeting", "client-greeting-in-pieces", "client-exit", "end-to-end"}
)


@dataclass(frozen=True)
class Edit:
    file: str
    old: str
    new: str


@dataclass(frozen=True)
class Broken:
    name: str
    lab: str
    edits: tuple[Edit, ...]
    fails: frozenset[str]
    mentions: tuple[str, ...] = ()
    """Words the feedback of the failing checks must contain, all of them somewhere."""
    removes: tuple[str, ...] = field(default=())

    def materialize(self, parent: Path) -> Path:
        """Writes this submission as a directory under `parent` and returns it."""
        target = parent / self.name
        shutil.copytree(REPOSITORY / "solutions" / self.lab, target)
        for edit in self.edits:
            path = target / edit.file
            text = path.read_text()
            if edit.old not in text:
                raise AssertionError(f"{self.name}: {edit.old!r} is not in {edit.file}")
            path.write_text(text.replace(edit.old, edit.new, 1))
        for name in self.removes:
            (target / name).unlink()
        return target


SERVER_HOST_LINE = 'HOST = "0.0.0.0"'
SERVER_PORT_LINE = 'PORT = int(os.environ.get("SERVER_PORT", "65432"))'
SERVER_SEND_LINE = "        conn.sendall(GREETING)"
CLIENT_READ_LOOP = "        while chunk := sock.recv(1024):\n            received += chunk"
CLIENT_PRINT_LINE = 'print(f"Received from server: {received.decode()}")'

LAB01 = (
    Broken(
        "server-binds-localhost",
        "01-tcp-hello",
        (Edit("server.py", SERVER_HOST_LINE, 'HOST = "127.0.0.1"'),),
        fails=LAB01_SERVER_CHECKS | {"end-to-end"},
        mentions=("0.0.0.0",),
    ),
    Broken(
        "server-hard-coded-port",
        "01-tcp-hello",
        (Edit("server.py", SERVER_PORT_LINE, "PORT = 65432"),),
        fails=LAB01_SERVER_CHECKS | {"end-to-end"},
        mentions=("SERVER_PORT", "65432"),
    ),
    Broken(
        "server-never-accepts",
        "01-tcp-hello",
        (
            Edit(
                "server.py",
                "    listener.listen()\n    conn, address = listener.accept()",
                "    listener.listen(0)\n"
                "    # Mistake: a stray connection fills the queue; accept() never runs.\n"
                "    stray = socket.create_connection(('127.0.0.1', PORT))\n"
                "    import time\n"
                "    time.sleep(3600)\n"
                "    conn, address = listener.accept()",
            ),
        ),
        fails=LAB01_SERVER_CHECKS - {"server-listens"} | {"end-to-end"},
        mentions=("SYN-ACK", "<- no SYN-ACK"),
    ),
    Broken(
        "server-greeting-with-newline",
        "01-tcp-hello",
        (Edit("server.py", 'GREETING = b"Hello, Client!"', 'GREETING = b"Hello, Client!\\n"'),),
        fails=frozenset({"server-greeting"}),
        mentions=("'Hello, Client!\\n'", "line ending"),
    ),
    Broken(
        "server-resets-connection",
        "01-tcp-hello",
        (
            Edit(
                "server.py",
                SERVER_SEND_LINE,
                SERVER_SEND_LINE + "\n        import struct\n"
                "        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,"
                " struct.pack('ii', 1, 0))",
            ),
        ),
        fails=frozenset({"server-close"}),
        mentions=("RST", "SO_LINGER", "<- abortive close"),
    ),
    Broken(
        "server-serves-forever",
        "01-tcp-hello",
        (
            Edit(
                "server.py",
                "    conn, address = listener.accept()\n    with conn:",
                "    while True:\n      conn, address = listener.accept()\n      with conn:",
            ),
        ),
        fails=frozenset({"server-exit"}),
        mentions=("still running",),
    ),
    Broken(
        "server-exits-with-status-3",
        "01-tcp-hello",
        (Edit("server.py", SERVER_SEND_LINE, SERVER_SEND_LINE + "\nraise SystemExit(3)"),),
        fails=frozenset({"server-exit"}),
        mentions=("status 3",),
    ),
    Broken(
        "server-syntax-error",
        "01-tcp-hello",
        (Edit("server.py", SERVER_HOST_LINE, 'HOST = "0.0.0.0'),),
        fails=LAB01_SERVER_CHECKS | {"end-to-end"},
        mentions=("SyntaxError",),
    ),
    Broken(
        "server-memory-hog",
        "01-tcp-hello",
        (Edit("server.py", SERVER_HOST_LINE, SERVER_HOST_LINE + "\nhog = bytearray(300 << 20)"),),
        fails=LAB01_SERVER_CHECKS | {"end-to-end"},
        mentions=("memory", "64 MB"),
    ),
    Broken(
        "client-single-recv",
        "01-tcp-hello",
        (Edit("client.py", CLIENT_READ_LOOP, "        received = sock.recv(1024)"),),
        fails=frozenset({"client-greeting-in-pieces"}),
        mentions=("byte stream", "recv()"),
    ),
    Broken(
        "client-connects-to-localhost",
        "01-tcp-hello",
        (
            Edit(
                "client.py",
                'HOST = os.environ.get("SERVER_HOST", "localhost")',
                'HOST = "localhost"',
            ),
        ),
        fails=LAB01_CLIENT_CONNECT_CHECKS,
        mentions=("SERVER_HOST",),
    ),
    Broken(
        "client-hard-coded-port",
        "01-tcp-hello",
        (Edit("client.py", SERVER_PORT_LINE, "PORT = 65432"),),
        fails=LAB01_CLIENT_CONNECT_CHECKS,
        mentions=("wrong port", "65432", "SERVER_PORT"),
    ),
    Broken(
        "client-exits-with-status-2",
        "01-tcp-hello",
        (Edit("client.py", CLIENT_PRINT_LINE, CLIENT_PRINT_LINE + "\nsys.exit(2)"),),
        fails=frozenset({"client-exit"}),
        mentions=("status 2",),
    ),
    Broken(
        "client-traceback-without-server",
        "01-tcp-hello",
        (
            Edit(
                "client.py",
                "try:\n    sock = socket.create_connection((HOST, PORT))\nexcept OSError as e:",
                "sock = socket.create_connection((HOST, PORT))\nif False:",
            ),
        ),
        fails=frozenset({"client-no-server"}),
        mentions=("traceback", "stderr"),
    ),
    Broken(
        "client-prints-repr",
        "01-tcp-hello",
        (Edit("client.py", "{received.decode()}", "{bytes(received)}"),),
        fails=frozenset({"client-greeting", "client-greeting-in-pieces", "end-to-end"}),
        mentions=("decode",),
    ),
    Broken(
        "client-missing",
        "01-tcp-hello",
        (),
        fails=LAB01_CLIENT_CONNECT_CHECKS | {"client-no-server"},
        mentions=("client.py not found",),
        removes=("client.py",),
    ),
    Broken(
        "client-hangs",
        "01-tcp-hello",
        (
            Edit(
                "client.py",
                CLIENT_PRINT_LINE,
                CLIENT_PRINT_LINE + "\nimport time\ntime.sleep(3600)",
            ),
        ),
        fails=frozenset({"client-exit"}),
        mentions=("still running",),
    ),
    Broken(
        "client-floods-stderr",
        "01-tcp-hello",
        (
            Edit(
                "client.py",
                CLIENT_PRINT_LINE,
                CLIENT_PRINT_LINE + "\nfor _ in range(1000):\n"
                "    sys.stderr.write('x' * 100_000 + '\\n')\nsys.exit(4)",
            ),
        ),
        fails=frozenset({"client-exit"}),
        mentions=("status 4", "printed more than the grader keeps"),
    ),
)
