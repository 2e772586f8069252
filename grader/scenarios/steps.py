"""The steps scenarios are made of: run a program, wait for it to listen, run a grader peer."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from grader.errors import InfrastructureError, with_output
from grader.probes.run_bounded import QUIET_MAX_S
from grader.sandbox.backend import Program, Sandbox
from grader.sandbox.containers import PAYLOAD_MOUNT
from grader.sandbox.peer_host import LONGEST_RUN_S, PeerHost, ServerPeerHost
from grader.sandbox.staging import found_instead, left_out_reason
from grader.sandbox.waiting import Poll
from grader.scenarios.model import (
    ClientPeerReport,
    Connection,
    Listener,
    ListenObservation,
    ProgramRun,
    ServerPeerReport,
    UdpPeerReport,
)
from grader.spec.model import Input, LabSpec, ReferenceClient, ReferenceUdpClient

SERVER_ALIAS = "server"
HELPER_MARGIN_S = 10.0
"""How long past a helper's own deadline the grader waits before it calls it lost."""
SERVER_DEADLINE_S = 300.0
"""A reference server's deadline when the caller gives none; the grader stops it with
SIGTERM long before, once the student's client is done (the spec's run_s at most)."""
TIME_IS_UP = "SIGUSR2"  # run_bounded.py kills the program and reports what it printed


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def program_env(port: int, *, client: bool) -> dict[str, str]:
    env = {"SERVER_PORT": str(port)}
    if client:
        env["SERVER_HOST"] = SERVER_ALIAS
    return env


def after_stop_signal_s(lab: LabSpec) -> float:
    """How long (s) the grader waits for a server after sending SIGTERM to its wrapper.

    run_bounded.py holds the signal until the program is quiet (at most QUIET_MAX_S), then
    gives the program the lab's exit_s (its stop_grace_s) and kills it if it is still
    running: this wait covers both, and a second to spare, before the grader stops it itself.
    """
    return QUIET_MAX_S + lab.timeouts.exit_s + 1.0


def finish_program(program: Program, file: str, timeout_s: float) -> ProgramRun:
    """Waits up to `timeout_s` for the program to exit, stopping it if it does not.

    What it returns comes from run_bounded.py's record, which the program cannot reach (see
    that module), or, if the wrapper was killed (the OOM killer), from Docker's own view.
    Raises InfrastructureError when the wrapper could not start the program at all.
    """
    exited = program.wait_exit(timeout_s)
    if exited is None:
        program.signal(TIME_IS_UP)
        exited = program.wait_exit(HELPER_MARGIN_S)
    if exited is None:
        program.stop()
    state = exited or program.state()
    record = _run_record(program)
    if record is None:  # the wrapper itself was killed: only Docker's view is left
        return ProgramRun(
            file=file, exit_code=None, timed_out=exited is None, oom_killed=state.oom_killed
        )
    elapsed_s = record.get("elapsed_s")
    stdout, stdout_cut = _stream(record["stdout"])
    stdout_total, stdout_sha256 = int(record["stdout"]["total"]), str(record["stdout"]["sha256"])
    stderr, stderr_cut = _stream(record["stderr"])
    timed_out = bool(record["killed_by_grader"]) or bool(record.get("lifetime_expired"))
    return ProgramRun(
        file=file,
        exit_code=None if timed_out else int(record["status"]),
        timed_out=timed_out,
        ended_before_sigterm=bool(record.get("stop_signal_after_exit")),
        stopped_by_signal=bool(record.get("stop_signal_while_running")),
        oom_killed=state.oom_killed,
        stdout=stdout,
        stderr=stderr,
        output_cut=stdout_cut or stderr_cut,
        stdout_bytes=stdout_total,
        stdout_sha256=stdout_sha256,
        elapsed_s=float(elapsed_s) if elapsed_s is not None else None,
        process_limit_hit=bool(record.get("process_limit_hits")),
        peak_processes=record.get("peak_processes"),
    )


def _run_record(program: Program) -> dict[str, Any] | None:
    """run_bounded.py's record (its module docstring gives the fields), or None if it died.

    Only the wrapper writes to the container's log (the program's output reaches it inside
    the record, base64-encoded), so its last `RUN ` line is the record.
    Raises InfrastructureError on the wrapper's `WRAPPER-ERROR ` line.
    """
    for line in reversed(program.output(stdout=True).decode("utf-8", "replace").splitlines()):
        if line.startswith("RUN "):
            return dict(json.loads(line.removeprefix("RUN ")))
        if line.startswith("WRAPPER-ERROR "):
            raise InfrastructureError(
                "the grader could not start the student's program: "
                + line.removeprefix("WRAPPER-ERROR ")
            )
    return None


def _stream(kept: dict[str, Any]) -> tuple[bytes, bool]:
    """A stream's kept bytes (first and last part), and whether anything was left out."""
    head, tail = base64.b64decode(kept["head"]), base64.b64decode(kept["tail"])
    cut = int(kept["total"]) > len(head) + len(tail)
    return (head + b"\n[... output cut ...]\n" + tail if cut else head + tail), cut


def wait_for_listen(
    server: Program, port: int, protocol: str, timeout_s: float
) -> ListenObservation:
    """What the server's wrapper saw listen: its `LISTEN` line, once printed.

    The server must have been started with `listen=(protocol, timeout_s)`: run_bounded.py
    watches /proc/net inside the container, as root, and prints the line when a socket
    listens, the program exits or timeout_s passes. The program cannot write to the
    wrapper's log (its output reaches it only inside the record), so the line is the
    wrapper's. No line (the wrapper itself was killed, or the container stopped) is no
    listener.
    """
    kind: Literal["tcp", "udp"] = "udp" if protocol == "udp" else "tcp"
    empty = ListenObservation(expected_port=port, listeners=(), waited_s=0.0, protocol=kind)

    looks = 0

    def report() -> dict[str, Any] | None:
        # Two engine calls per look would be most of a quiet engine's work while servers
        # start: the log every 50 ms, whether the container runs every tenth look (a
        # wrapper killed without a line costs at most half a second more).
        nonlocal looks
        looks += 1
        running = looks % 10 != 0 or server.is_running()
        for line in server.output(stdout=True).decode("utf-8", "replace").splitlines():
            if line.startswith("LISTEN "):
                return dict(json.loads(line.removeprefix("LISTEN ")))
        return None if running else {}

    seen = Poll(timeout_s + HELPER_MARGIN_S, interval_s=0.05).until(report)
    if seen and seen.get("program_exited"):
        # The line came as the program ended: wait until the container has stopped too,
        # so that the scenario sees it gone and starts no peer against a name that is
        # leaving the network.
        Poll(HELPER_MARGIN_S).until(lambda: True if not server.is_running() else None)
    if not seen:
        return empty
    listeners = tuple(
        Listener(address, port, ipv6_only) for address, port, ipv6_only in seen["listeners"]
    )
    return ListenObservation(port, listeners, float(seen["waited_s"]), kind)


def run_reference_client(
    context: Sandbox, port: int, client: ReferenceClient, host: PeerHost | None = None
) -> ClientPeerReport:
    """Runs the grader's client; it sends client.send, which it reads from a file.

    In `host` (the run's PeerHost) when given and it can, else in a container of its own.

    The client stops by itself at its deadline (connect and read timeouts of every connection,
    plus the spec's pauses), whatever the student's server does, and reports what it saw;
    only a client that outlives that by HELPER_MARGIN_S, or prints no report, is the
    grader's fault (InfrastructureError).
    """
    payload_bytes = context.files.input_size_bytes(client.send)
    pieces = -(-payload_bytes // client.chunk_bytes) if client.chunk_bytes else 1
    per_connection_s = 2 * client.read_timeout_s + max(0, pieces - 1) * client.pause_ms / 1000
    connections = client.connections + (1 if client.reset_first else 0)
    deadline_s = connections * per_connection_s
    options = {
        "mode": "client",
        "host": SERVER_ALIAS,
        "port": port,
        "send_file": PAYLOAD_MOUNT,
        "chunk_bytes": client.chunk_bytes,
        "pause_ms": client.pause_ms,
        "half_close": client.half_close,
        "connect_timeout_s": client.read_timeout_s,
        "read_timeout_s": client.read_timeout_s,
        "connections": client.connections,
        "reset_first": client.reset_first,
        "deadline_s": deadline_s,
    }
    report = _client_report(
        context,
        host,
        options,
        "reference-client",
        client.send,
        "the grader's reference client",
    )
    reset = report.get("reset_connection")
    return ClientPeerReport(
        connections=tuple(_connection(c) for c in report["connections"]),
        reset_connection=_connection(reset) if reset else None,
        skipped=int(report.get("skipped", 0)),
        stopped=str(report["stopped"]),
    )


def _connection(raw: dict[str, Any]) -> Connection:
    return Connection(
        connected=bool(raw["connected"]),
        connect_error=raw["connect_error"],
        end=raw["end"],
        received=base64.b64decode(raw["received"]),
        received_bytes=int(raw["received_bytes"]),
        received_sha256=str(raw["received_sha256"]),
        sent_bytes=int(raw["sent_bytes"]),
        sent_sha256=str(raw["sent_sha256"]),
        first_difference=raw["first_difference"],
        delivered_bytes=int(raw.get("delivered_bytes", 0)),
        elapsed_s=float(raw.get("elapsed_s", 0.0)),
        idle_s=float(raw.get("idle_s", 0.0)),
        local_port=int(raw["local_port"]) if raw.get("local_port") is not None else None,
    )


def run_reference_udp_client(
    context: Sandbox, port: int, client: ReferenceUdpClient, host: PeerHost | None = None
) -> UdpPeerReport:
    """Runs the grader's UDP client; it stops at its deadline or at a flood of replies.

    In `host` (the run's PeerHost) when given and it can, else in a container of its own.
    """
    datagrams = [datagram.build() for datagram in client.send]
    extra_wait_s = 0.5  # after as many replies as requests, wait this long for extra ones
    deadline_s = client.reply_timeout_s + len(datagrams) * client.pause_ms / 1000 + extra_wait_s
    options = {
        "mode": "udp-client",
        "host": SERVER_ALIAS,
        "port": port,
        "send": [b64(datagram) for datagram in datagrams],
        "clients": client.clients,
        "pause_ms": client.pause_ms,
        "reply_timeout_s": client.reply_timeout_s,
        "extra_wait_s": extra_wait_s,
        "deadline_s": deadline_s,
    }
    report = _client_report(
        context, host, options, "reference-udp-client", None, "the grader's UDP client"
    )
    return UdpPeerReport(
        sent=tuple(base64.b64decode(d) for d in report["sent"]),
        replies=tuple(base64.b64decode(d) for d in report["replies"]),
        replies_total=int(report["replies_total"]),
        stopped=str(report["stopped"]),
        local_ports=tuple(int(port) for port in report.get("local_ports", ())),
    )


class ReferenceServer:
    """The grader's server (or, with listen=False, a host where nothing listens)."""

    def __init__(
        self,
        context: Sandbox,
        port: int,
        pieces: tuple[bytes, ...],
        pause_ms: int,
        *,
        echo: bool = False,
        listen: bool,
        start_timeout_s: float,
        deadline_s: float = SERVER_DEADLINE_S,
        host: ServerPeerHost | None = None,
    ) -> None:
        """`host`: run in the run's ServerPeerHost (which has the name), else in a container."""
        self.host = host
        self.options = {
            "mode": "server" if listen else "closed",
            "port": port,
            "send": [b64(piece) for piece in pieces],
            "pause_ms": pause_ms,
            "read_timeout_s": 5.0,
            "echo": echo,
            "deadline_s": deadline_s,
        }
        self.context = context
        self.start_timeout_s = start_timeout_s
        self._helper: Any = None
        self._peer: Program | None = None

    def __enter__(self) -> ReferenceServer:
        if self.host is not None:
            self._helper = self.host.peer("peer.py", self.options)
        else:
            self._helper = self.context.helper(
                "peer.py",
                json.dumps(self.options),
                "reference-server",
                alias=SERVER_ALIAS,
                capabilities=("NET_RAW",),
            )
        peer = self._helper.__enter__()
        self._peer = peer
        ready = Poll(self.start_timeout_s + HELPER_MARGIN_S).until(
            lambda: True if b"READY" in peer.output(stdout=True) else None
        )
        if not ready:
            self.__exit__(None, None, None)
            raise InfrastructureError(
                with_output(
                    "the grader's reference server did not start", peer.output(stdout=False)
                )
            )
        return self

    @property
    def running(self) -> Program:
        assert self._peer is not None, "use ReferenceServer as a context manager"
        return self._peer

    def report(self) -> ServerPeerReport:
        """Stops the server (if it still waits) and returns what it saw."""
        assert self._peer is not None
        self._peer.signal("SIGTERM")
        if self._peer.wait_exit(HELPER_MARGIN_S) is None:
            raise InfrastructureError("the grader's reference server did not stop")
        report = _peer_report(self._peer)
        return ServerPeerReport(
            accepted=bool(report["accepted"]),
            received=base64.b64decode(report["received"]),
            sent=base64.b64decode(report["sent"]),
            syn_ports=tuple(report["syn_ports"]),
            received_bytes=int(report["received_bytes"]),
            stopped=str(report["stopped"]),
        )

    def __exit__(self, *exc: object) -> None:
        if self._helper is not None:
            helper, self._helper = self._helper, None
            helper.__exit__(None, None, None)


@contextmanager
def ready_helper(
    context: Sandbox,
    script: str,
    options: dict[str, Any],
    role: str,
    alias: str,
    timeout_s: float,
    host: ServerPeerHost | None = None,
) -> Iterator[Program]:
    """A grader helper on the lab network, once it has printed READY.

    In `host` (the run's ServerPeerHost, named `alias`) when given, else in a container.
    """
    started = (
        host.peer(script, options)
        if host is not None
        else context.helper(script, json.dumps(options), role, alias=alias)
    )
    with started as helper:
        ready = Poll(timeout_s + HELPER_MARGIN_S).until(
            lambda: (
                True
                if b"READY" in helper.output(stdout=True)
                else (None if helper.is_running() else False)
            )
        )
        if not ready:
            raise InfrastructureError(
                with_output(f"the grader's {role} did not start", helper.output(stdout=False))
            )
        yield helper


def stop_and_report(helper: Program) -> dict[str, Any]:
    """Asks a helper to stop (SIGTERM) and returns the report it prints on the way out."""
    helper.signal("SIGTERM")
    if helper.wait_exit(HELPER_MARGIN_S) is None:
        raise InfrastructureError("a grader helper did not stop on SIGTERM")
    return _peer_report(helper)


def _peer_report(peer: Program) -> dict[str, Any]:
    """The last REPORT line a grader peer printed; its absence is the grader's fault.

    A peer reports whatever the student's program does (its REPORT line is bounded far
    below Docker's 1 MB log), so a missing or malformed report is an InfrastructureError.
    """
    return _report_in(peer.output(stdout=True), lambda: peer.output(stdout=False))


def _report_in(stdout: bytes, stderr: Callable[[], bytes]) -> dict[str, Any]:
    """The last REPORT line in a peer's `stdout` (see _peer_report); `stderr` for the error."""
    for line in reversed(stdout.decode("utf-8", "replace").splitlines()):
        if line.startswith("REPORT "):
            report = dict(json.loads(line.removeprefix("REPORT ")))
            if str(report.get("stopped", "")).startswith(("error:", "report too long")):
                raise InfrastructureError(
                    f"the grader's peer failed: {report['stopped']}\n"
                    + stderr().decode("utf-8", "replace")[-2000:]
                )
            return report
    raise InfrastructureError(with_output("the grader's peer printed no report", stderr()))


def _client_report(
    context: Sandbox,
    host: PeerHost | None,
    options: dict[str, Any],
    role: str,
    payload: Input | None,
    what: str,
) -> dict[str, Any]:
    """Runs a reference client to its end and returns its report.

    In the run's PeerHost when there is one, it mounted the payload, and the client's
    deadline fits an exec; otherwise in a container of its own. `options["deadline_s"]` is
    the client's own deadline; one that outlives it by HELPER_MARGIN_S is the grader's fault
    (InfrastructureError, naming `what`).
    """
    deadline_s = float(options["deadline_s"])
    limit_s = deadline_s + HELPER_MARGIN_S
    if host is not None and payload is not None:
        path = host.payload_path(payload)
        options = {**options, "send_file": path} if path is not None else options
        host = host if path is not None else None
    if host is not None and limit_s <= LONGEST_RUN_S:
        result = host.run_probe("peer.py", options, limit_s)
        if PeerHost.outlived(result):
            raise InfrastructureError(f"{what} did not stop at its {deadline_s:g} s deadline")
        return _report_in(result.stdout, lambda: result.stderr)
    with context.helper("peer.py", json.dumps(options), role, payload=payload) as peer:
        if peer.wait_exit(limit_s) is None:
            raise InfrastructureError(f"{what} did not stop at its {deadline_s:g} s deadline")
        return _peer_report(peer)


def _last_json_line(output: bytes, what: str, helper: Program) -> dict[str, Any]:
    lines = output.decode("utf-8", "replace").strip().splitlines()
    try:
        return dict(json.loads(lines[-1]))
    except (IndexError, ValueError) as e:
        raise InfrastructureError(
            with_output(f"the {what} printed no result", helper.output(stdout=False))
        ) from e


def missing(submission: Path, file: str) -> ProgramRun | None:
    """A ProgramRun that says the file is missing, or None when it is there.

    `submission` is the staged copy; when the copy left the file out (too big, a link, ...)
    the run's `left_out` says why, so the feedback does not merely say "not found".
    """
    if (submission / file).is_file():
        return None
    found = found_instead(submission, file)
    return ProgramRun(
        file=file,
        missing=True,
        left_out=left_out_reason(submission, file),
        found_instead=found.paths if found else (),
        found_cause=found.cause if found else None,
    )
