"""A broken submission: a lab's reference solution with one deliberate mistake.

The catalogue of them is tests/submissions.py (and the topic modules it gathers).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Edit:
    file: str
    old: str
    new: str
    encoding: str = "utf-8"
    """How the edited file is saved: "latin-1" is an editor that does not save UTF-8."""


@dataclass(frozen=True)
class Broken:
    name: str
    lab: str
    edits: tuple[Edit, ...]
    fails: frozenset[str]
    mentions: tuple[str, ...] = ()
    """Words the feedback of the failing checks must contain, all of them somewhere."""
    removes: tuple[str, ...] = field(default=())
    copies: tuple[tuple[str, str], ...] = ()
    """(from, to) paths in the submission, after the edits: a second copy of a file."""
    renames: tuple[tuple[str, str], ...] = ()
    """(from, to) paths in the submission, after the copies: a misnamed or moved file."""
    adds: tuple[tuple[str, str], ...] = ()
    """(path, text): files the mistake adds (an archiver's `__MACOSX/` junk, say)."""

    def materialize(self, parent: Path) -> Path:
        """Writes this submission as a directory under `parent` and returns it."""
        target = parent / self.name
        shutil.copytree(REPOSITORY / "solutions" / self.lab, target)
        for edit in self.edits:
            path = target / edit.file
            text = path.read_text()
            if edit.old not in text:
                raise AssertionError(f"{self.name}: {edit.old!r} is not in {edit.file}")
            path.write_text(text.replace(edit.old, edit.new, 1), encoding=edit.encoding)
        for name in self.removes:
            (target / name).unlink()
        for source, destination in self.copies:
            (target / destination).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(target / source, target / destination)
        for source, destination in self.renames:
            (target / destination).parent.mkdir(parents=True, exist_ok=True)
            (target / source).rename(target / destination)
        for name, text in self.adds:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_text(text)
        return target


# The solutions' lines the mistakes edit, and the checks they touch.

LAB01_SERVER_CHECKS = frozenset(
    {"server-listens", "server-handshake", "server-greeting", "server-close", "server-exit"}
)
LAB01_CLIENT_CONNECT_CHECKS = frozenset(
    {"client-greeting", "client-greeting-in-pieces", "client-exit", "end-to-end"}
)

SERVER_HOST_LINE = 'HOST = "0.0.0.0"'
SERVER_PORT_LINE = 'PORT = int(os.environ.get("SERVER_PORT", "65432"))'
SERVER_SEND_LINE = "        conn.sendall(GREETING)"
CLIENT_READ_LOOP = "        while chunk := sock.recv(1024):\n            received += chunk"
CLIENT_PRINT_LINE = 'print(f"Received from server: {received.decode()}")'

LAB02_SERVER_ECHO_CHECKS = frozenset(
    {
        "echo-line",
        "echo-one-byte",
        "echo-8-mib",
        "echo-all-byte-values",
        "echo-slow-pieces",
        "three-clients",
        "survives-reset",
    }
)
ECHO_LOOP = "        while data := conn.recv(65536):\n            conn.sendall(data)"
ACCEPT_LOOP = """    while True:
        conn, address = listener.accept()
        try:
            serve(conn)
        except (ConnectionResetError, BrokenPipeError) as e:
            print(f"client {address[0]}:{address[1]} went away: {e}", file=sys.stderr)"""

LAB03_SERVER_CHECKS = frozenset(
    {
        "server-bound",
        "udp-only",
        "echo-exact",
        "back-to-back",
        "empty-datagram",
        "big-datagram",
        "three-clients",
        "sigterm-exit",
    }
)
LAB03_BOUNDARY_CHECKS = frozenset(
    {"echo-exact", "back-to-back", "empty-datagram", "big-datagram", "three-clients"}
)
UDP_ECHO_LINE = "        sock.sendto(data, address)"
PING_SUMMARY = "loss = 100 * (COUNT - received) / COUNT if COUNT else 0.0"
