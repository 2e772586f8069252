"""The local backend of a submission's run: processes on loopback, no Docker.

The scenarios are grader.scenarios.run.SubmissionRun's; this class says where their programs
run (grader.sandbox.local) and how packets are captured (tcpdump on the loopback interface).
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from grader.errors import InfrastructureError, with_output
from grader.packets.conversation import conversation
from grader.packets.model import CapturedPackets, Packet
from grader.packets.pcap import read_packets
from grader.sandbox import staging
from grader.sandbox.capture import CAPTURE_LIMIT_BYTES, CAPTURE_LIMIT_PACKETS, tcpdump_listening
from grader.sandbox.containers import SUBMISSION_MOUNT
from grader.sandbox.local import (
    LOOPBACK_INTERFACE,
    Lab,
    LocalContext,
    LocalRunning,
    can_capture,
    is_root,
    port_is_free,
    require_local,
    reserved_address,
    reserved_port,
    reserved_uid,
    started_probe,
)
from grader.scenarios.model import (
    Capture,
    ClientPeerReport,
    Observation,
    ProgramRun,
    Scenario,
    ServerPeerReport,
    ServerSession,
    UdpPeerReport,
    UdpServerSession,
)
from grader.scenarios.run import PeerReport, SubmissionRun
from grader.spec.model import Input

STOP_TIMEOUT_S = 10.0
LOOPBACK = "127.0.0.1"


class LocalSubmissionRun(SubmissionRun[LocalContext]):
    """SubmissionRun on the local backend (see grader.sandbox.local)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stack = ExitStack()
        self._address: str | None = None
        self._port: int | None = None
        self._port_lock: ExitStack | None = None
        self._local: LocalContext | None = None
        self._capturing: LocalPacketCapture | None = None
        """The running scenario's capture (see _run), if any."""

    @property
    def lab_place(self) -> Lab:
        """Where this run's server is now: the run's address (reserved_address) and the
        port of the scenario running (see _run)."""
        if self._address is None:
            self._address = self._stack.enter_context(reserved_address())
        if self._port is None:
            self._new_port()
        assert self._port is not None
        return Lab(self._address, self._port)

    def _new_port(self) -> None:
        """Takes a port no run holds and nothing lingers on; gives the old one back."""
        if self._port_lock is not None:
            self._port_lock.close()
        self._port_lock = ExitStack()
        self._stack.callback(self._port_lock.close)
        self._port = self._port_lock.enter_context(reserved_port(super().port))
        if self._local is not None:
            self._local.lab = self.lab_place

    @property
    def port(self) -> int:
        return self.lab_place.port

    def _run(self, scenario: Scenario) -> Observation:
        # A connection the student's server closed first stays in TIME_WAIT on its port for
        # up to a minute, and a program (or the grader's server) that binds that port without
        # SO_REUSEADDR would fail where a container's fresh network would not: such a port
        # is given up for a fresh one before the next scenario.
        if self._port is not None and not port_is_free(self._port):
            self._new_port()
        with ExitStack() as stack:
            # tcpdump starts now and is waited for in _maybe_capture: its start (tens of
            # milliseconds) overlaps the program's, which on Docker needs the program's
            # namespace first. The filter names only the run's addresses, known by now.
            if scenario in self.captured and can_capture():
                self._open()
                assert self._captures_dir is not None
                name = f"scenario-{len(self._seen) + 1}"
                self._capturing = stack.enter_context(
                    loopback_capture(self._captures_dir, name, self._capture_filter(scenario))
                )
            try:
                return super()._run(scenario)
            finally:
                self._capturing = None

    def _capture_filter(self, scenario: Scenario) -> str:
        """tcpdump's filter for `scenario`: the run's own traffic, with the grader's clients
        (a server scenario) or with the lab's address (a client scenario). Any program may
        use those addresses too: graders_traffic keeps only the grader's sockets' packets."""
        place = self.lab_place
        if isinstance(scenario, ServerSession | UdpServerSession):
            return f"host {place.client_address}"
        return f"host {place.address}"

    def close(self) -> None:
        try:
            self._stack.close()
        finally:
            self._local = None
            self._address = self._port = None
            self._port_lock = None

    def _open(self) -> LocalContext:
        if self._local is None:
            require_local()
            uid = self._stack.enter_context(reserved_uid()) if is_root() else None
            # 0o711 as root: the run's programs (another uid) may enter the folder to reach
            # their copy of the submission, but not list it; the rest is 0o700 below it.
            top = Path(tempfile.mkdtemp(prefix=f"socketlab-{os.getpid()}-local-"))
            self._stack.callback(_remove_tree, top)
            top.chmod(0o711 if uid is not None else 0o700)
            private = top / "private"
            private.mkdir(mode=0o700)
            copy = top / f"submission-{secrets.token_hex(16)}"
            self._staged = self._stack.enter_context(
                staging.staged_submission(self.submission, copy, self._programs())
            )
            _read_only(self._staged, uid)
            home = None
            if uid is not None:
                home = top / f"home-{secrets.token_hex(16)}"
                home.mkdir(mode=0o700)
                os.chown(home, uid, uid)
            self.layout_note = staging.staging_record(self._staged).layout.note
            self._captures_dir = private / "captures"
            self._captures_dir.mkdir()
            self._local = LocalContext(private, self.lab.limits, self.lab_place, uid, home)
        return self._local

    def _student_program(
        self,
        context: Any,
        staged: Path,
        role: str,
        env: dict[str, str],
        stdin: Input | None = None,
        *,
        listen: tuple[str, float] | None = None,
        stop_grace_s: float | None = None,
    ) -> Any:
        file = self._service(role).file
        return context.student_program(
            staged, file, env, None, role, stdin, listen=listen, stop_grace_s=stop_grace_s
        )

    def _as_shown(self, run: ProgramRun) -> ProgramRun:
        """The run with the submission's copy named SUBMISSION_MOUNT in what the program
        printed to stderr (tracebacks, Python's errors), as on Docker: the copy's own path
        (/tmp/socketlab-…/submission-<32 hex digits>) says nothing to a student, differs
        between runs, and would push Python's message past the feedback's line limit."""
        if self._staged is None or not run.stderr:
            return run
        stderr = run.stderr
        for folder in {str(self._staged), os.path.realpath(self._staged)}:
            stderr = stderr.replace(os.fsencode(folder), SUBMISSION_MOUNT.encode())
        return replace(run, stderr=stderr)

    def _finished(self, running: Any, peer: PeerReport | None = None) -> Capture | None:
        if running is None:
            return None
        pcap = running.stop()
        packets = as_lab_address(read_packets(pcap), self.lab_place)
        return Capture(pcap, conversation(graders_traffic(packets, self.lab_place, peer)))

    @contextmanager
    def _maybe_capture(
        self, context: LocalContext, scenario: Scenario, observed: Any
    ) -> Iterator[LocalPacketCapture | None]:
        """The capture _run started for `scenario`, once tcpdump listens; None when no check
        reads its packets or nothing can capture here."""
        running = self._capturing
        if running is not None:
            running.wait_listening()
        yield running


def as_lab_address(packets: CapturedPackets, lab: Lab) -> CapturedPackets:
    """The packets with the server's loopback source address given the lab's address.

    A server bound to 0.0.0.0 on loopback sends from 127.0.0.1, whatever address it was
    reached at (the kernel picks the source address of a wildcard socket by route, and the
    route to any 127/8 address is from 127.0.0.1): its UDP replies, and any connection it
    opens to the grader's client. In a container its one address is both. That is
    loopback's doing, not the program's, so the checks see the lab's address; the ports
    stay as they were, so a reply from another socket still shows as such.
    """
    moved = tuple(
        replace(packet, source=(lab.address, packet.source[1]))
        if packet.source[0] == LOOPBACK and packet.destination[0] == lab.client_address
        else packet
        for packet in packets
    )
    return CapturedPackets(moved, packets.cut)


def graders_traffic(packets: CapturedPackets, lab: Lab, peer: PeerReport | None) -> CapturedPackets:
    """Only the packets to or from the sockets of the grader's peer (read after as_lab_address).

    On loopback every program may bind any 127/8 address, the grader's ones included: a
    program could make a clean connection of its own from the grader's client address, or to
    a listener of its own on the lab's port number, and have it judged in place of its real
    one. The grader's sockets are known: its server's (the lab's address and port) and its
    clients' (their own ports, from the peer's report), which no program can bind while
    the grader holds them. A student's server is judged on what passed between the lab's
    address and the grader's clients; a student's client on what passed with the grader's
    server, from wherever it connected. Without a peer (end-to-end) nothing is left out.
    """
    if isinstance(peer, ServerPeerReport):
        graders = {(lab.address, lab.port)}
        other: str | None = None
    elif isinstance(peer, ClientPeerReport):
        connections = (*peer.connections, *filter(None, (peer.reset_connection,)))
        graders = {(lab.client_address, c.local_port) for c in connections if c.local_port}
        other = lab.address
    elif isinstance(peer, UdpPeerReport):
        graders = {(lab.client_address, port) for port in peer.local_ports}
        other = lab.address
    else:
        return packets

    def graders_own(packet: Packet) -> bool:
        for end, far in ((packet.source, packet.destination), (packet.destination, packet.source)):
            if end in graders and (other is None or far[0] == other):
                return True
        return False

    return CapturedPackets(tuple(filter(graders_own, packets)), packets.cut)


class LocalPacketCapture:
    """A running tcpdump on loopback; `stop()` ends it and returns the finished pcap."""

    def __init__(self, helper: LocalRunning, pcap: Path) -> None:
        self.helper = helper
        self.pcap = pcap
        self.stopped = False

    def wait_listening(self) -> None:
        """Returns once tcpdump listens; InfrastructureError when it does not."""
        if not tcpdump_listening(self.helper):
            raise InfrastructureError(
                with_output("tcpdump did not start listening", self.helper.output(stdout=False))
            )

    def stop(self) -> Path:
        """Stops tcpdump (it flushes the file) and returns the pcap; InfrastructureError when
        it does not stop."""
        if not self.stopped:
            self.stopped = True
            self.helper.signal("SIGINT")
            if self.helper.wait_exit(STOP_TIMEOUT_S) is None:
                raise InfrastructureError("tcpdump did not stop; the capture may be incomplete")
        return self.pcap


@contextmanager
def loopback_capture(directory: Path, name: str, wanted: str) -> Iterator[LocalPacketCapture]:
    """Starts capturing the loopback traffic tcpdump's filter `wanted` names into
    directory/name.pcap, bounded as on Docker (capture_bounded.py); stopped on exit. Packets
    are caught only once `wait_listening()` returned."""
    tcpdump = [
        "tcpdump",
        "-i",
        LOOPBACK_INTERFACE,
        "-n",
        "-U",
        "--immediate-mode",
        "-s",
        "0",
        "-Z",
        "root",
        "-w",
        "-",
        wanted,
    ]
    pcap = directory / f"{name}.pcap"
    options = {
        "pcap": str(pcap),
        "limit_bytes": CAPTURE_LIMIT_BYTES,
        "limit_packets": CAPTURE_LIMIT_PACKETS,
        "tcpdump": tcpdump,
    }
    with ExitStack() as stack:
        helper = stack.enter_context(
            started_probe("capture_bounded.py", [json.dumps(options)], directory, f"{name}-tcpdump")
        )

        running = LocalPacketCapture(helper, pcap)
        try:
            yield running
        finally:
            running.stop()


def _read_only(folder: Path, uid: int | None) -> None:
    """Makes the submission's copy readable by the run's programs, writable by none of them.

    As root the copy is root's, with the run's own group (its uid's number: see
    grader.sandbox.local) allowed to read it and nobody else; else it is the user's own.
    """
    for root, directories, files in os.walk(folder):
        for name in directories:
            _own(Path(root) / name, 0o750, uid)
        for name in files:
            _own(Path(root) / name, 0o640, uid)
    _own(folder, 0o750, uid)


def _own(path: Path, mode: int, group: int | None) -> None:
    if group is not None:
        os.chown(path, 0, group, follow_symlinks=False)
        path.chmod(mode)
    else:
        path.chmod(mode | 0o005 if mode & 0o040 else mode)


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
