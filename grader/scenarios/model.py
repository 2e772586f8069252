"""The scenarios a check can ask for and the plain observations each one returns.

A scenario is a frozen, hashable description, so checks that need the same run share it.
Observations record what happened; they never judge it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from grader.packets.model import Conversation
from grader.spec.model import (
    Impairment,
    Input,
    ReferenceClient,
    ReferenceServer,
    ReferenceUdpClient,
)


@dataclass(frozen=True)
class ServerSession:
    """Run the student's server; once it listens, the reference client talks to it."""

    client: ReferenceClient = field(default_factory=ReferenceClient)
    settle_s: float = 0.0
    """For a server stopped with SIGTERM: how long it is watched, after the reference client
    is done, for exiting by itself before the signal is sent (ended_before_sigterm)."""


@dataclass(frozen=True)
class UdpServerSession:
    """Run the student's UDP server; once its socket is bound, the reference client sends."""

    client: ReferenceUdpClient = field(default_factory=ReferenceUdpClient)
    settle_s: float = 0.0
    """As ServerSession.settle_s."""


@dataclass(frozen=True)
class ClientSession:
    """Run the reference server; once it listens, run the student's client against it."""

    server: ReferenceServer = field(default_factory=ReferenceServer)
    stdin: Input | None = None
    run_s: float | None = None
    """The client's time limit in this scenario; None: the lab's timeouts.run_s."""


@dataclass(frozen=True)
class ClientAlone:
    """Run the student's client where SERVER_HOST exists but nothing listens."""

    stdin: Input | None = None


@dataclass(frozen=True)
class EndToEnd:
    """Run the student's client against the student's server."""

    stdin: Input | None = None


@dataclass(frozen=True)
class PingSession:
    """Run the student's UDP client through the grader's relay to its UDP echo server.

    With `server` False nothing answers at SERVER_HOST. `env` adds environment variables.
    """

    impairment: Impairment = field(default_factory=Impairment)
    server: bool = True
    env: tuple[tuple[str, str], ...] = ()


Scenario = ServerSession | UdpServerSession | ClientSession | ClientAlone | EndToEnd | PingSession


@dataclass(frozen=True)
class ProgramRun:
    """One run of a student's program, as the container saw it."""

    file: str
    missing: bool = False
    left_out: str | None = None
    """When missing because the submission copy left it out: why ("it is a symbolic link")."""
    found_instead: tuple[str, ...] = ()
    """When missing: the submission's files that look like it ("Server.py", "a/server.py")."""
    found_cause: str | None = None
    """When `found_instead`: why none of them was run, and the fix, in a sentence or two."""
    exit_code: int | None = None
    timed_out: bool = False
    ended_before_sigterm: bool = False
    """The grader sent SIGTERM, but the program had exited on its own before it was passed on
    (run_bounded.py holds it until the program is quiet, at most QUIET_MAX_S)."""
    stopped_by_signal: bool = False
    """The grader's SIGTERM reached the program while it ran: a traceback after it is how the
    program stopped, not what went wrong in the checks before."""
    oom_killed: bool = False
    stdout: bytes = b""
    stderr: bytes = b""
    output_cut: bool = False
    """More was printed than the grader keeps (the spec's limits.output_kb)."""
    stdout_bytes: int = 0
    stdout_sha256: str = ""
    """Size and hash of everything printed on stdout, kept or not."""
    elapsed_s: float | None = None
    """How long the program ran, measured beside it in its container."""
    process_limit_hit: bool = False
    """The container's process limit refused at least one fork or thread start."""
    peak_processes: int | None = None
    """The most processes and threads of the program seen at once; None if unknown."""

    @property
    def ran(self) -> bool:
        return not self.missing

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    @property
    def stdout_text(self) -> str:
        return self.stdout.decode("utf-8", "replace")


@dataclass(frozen=True)
class Listener:
    address: str
    port: int
    ipv6_only: bool = False
    """An IPv6 socket with IPV6_V6ONLY set: it takes no IPv4 client, even bound to `::`."""

    @property
    def loopback_only(self) -> bool:
        return self.address.startswith("127.") or self.address == "::1"

    @property
    def all_interfaces(self) -> bool:
        """Bound to the wildcard address: every interface, for IPv4 clients too."""
        return self.address == "0.0.0.0" or (self.address == "::" and not self.ipv6_only)

    @property
    def reachable(self) -> bool:
        """The lab network's clients (IPv4, at the container's address) can connect to it.

        A socket bound to one of the container's own addresses is reachable there without
        listening on all interfaces.
        """
        if self.loopback_only or self.ipv6_only:
            return False
        return ":" not in self.address or self.address == "::"

    @property
    def shown(self) -> str:
        """As a person writes it: 0.0.0.0:20432, [::]:20432 (IPv6 only)."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}" + (" (IPv6 only)" if self.ipv6_only else "")


@dataclass(frozen=True)
class ListenObservation:
    """The server's listening sockets, read from its own network namespace."""

    expected_port: int
    listeners: tuple[Listener, ...]
    waited_s: float
    protocol: Literal["tcp", "udp"] = "tcp"

    @property
    def on_expected_port(self) -> tuple[Listener, ...]:
        return tuple(lst for lst in self.listeners if lst.port == self.expected_port)

    @property
    def reachable(self) -> bool:
        return any(lst.reachable for lst in self.on_expected_port)

    @property
    def all_interfaces(self) -> bool:
        return any(lst.all_interfaces for lst in self.on_expected_port)

    @property
    def ipv6_only(self) -> bool:
        """Something listens on the port, but only IPv6 clients could reach it."""
        on_port = self.on_expected_port
        return bool(on_port) and all(lst.ipv6_only for lst in on_port)


@dataclass(frozen=True)
class Connection:
    """One connection of the reference client: what it sent and what came back.

    The client keeps only the first part of the bytes, but counts and hashes all of them.
    """

    connected: bool
    connect_error: str | None
    end: Literal["fin", "rst", "timeout", "flood", "none"]
    """How it ended: the server closed (fin) or reset (rst); the client's time ran out
    (timeout); the server sent far more than it was sent (flood); no connection (none)."""
    received: bytes
    """Everything received, or its first part when more than the peer keeps."""
    received_bytes: int = 0
    received_sha256: str = ""
    sent_bytes: int = 0
    sent_sha256: str = ""
    first_difference: int | None = None
    """The first offset where what came back differs from what was sent; None if equal."""
    delivered_bytes: int = 0
    """How much of what was to be sent the server's side took before the connection ended."""
    elapsed_s: float = 0.0
    """From connecting to the end."""
    idle_s: float = 0.0
    """How long before the end the last byte came (or since connecting, if none came)."""
    local_port: int | None = None
    """The grader's client's own port, when it connected from an address of the grader's
    choosing (the local backend): every program may use that address, its ports tell the
    grader's connections apart."""

    @property
    def echoed(self) -> bool:
        return self.connected and self.received_sha256 == self.sent_sha256

    @property
    def extra_bytes(self) -> int:
        """How many bytes more came back than were sent."""
        return max(0, self.received_bytes - self.delivered_bytes)


@dataclass(frozen=True)
class ClientPeerReport:
    """What the reference client saw when it talked to the student's server."""

    connections: tuple[Connection, ...]
    reset_connection: Connection | None = None
    skipped: int = 0
    """Connections not tried, because one before them timed out or was flooded."""
    stopped: str = "done"
    """Why the client stopped: done, deadline, flood, terminated."""

    @property
    def first(self) -> Connection:
        return self.connections[0]

    @property
    def connected(self) -> bool:
        return self.first.connected

    @property
    def connect_error(self) -> str | None:
        return self.first.connect_error

    @property
    def received(self) -> bytes:
        return self.first.received

    @property
    def end(self) -> str:
        return self.first.end


@dataclass(frozen=True)
class UdpPeerReport:
    """The datagrams the reference UDP client sent, and the replies it got, in order.

    `replies` keeps the first ones only; `replies_total` counts them all.
    """

    sent: tuple[bytes, ...]
    replies: tuple[bytes, ...]
    replies_total: int = 0
    stopped: str = "done"
    """Why it stopped: done, reply timeout, deadline, flood (far more replies than requests)."""
    local_ports: tuple[int, ...] = ()
    """The grader's clients' own ports, when bound to an address of the grader's choosing
    (the local backend; see Connection.local_port)."""

    @property
    def flooded(self) -> bool:
        return self.stopped == "flood"


@dataclass(frozen=True)
class ServerPeerReport:
    """What the reference server saw of the student's client (the first part of the bytes)."""

    accepted: bool
    received: bytes
    sent: bytes
    syn_ports: tuple[int, ...]
    received_bytes: int = 0
    stopped: str = "done"
    """Why it stopped: done, terminated (the grader asked), deadline, flood."""


@dataclass(frozen=True)
class Capture:
    """A finished packet capture and the conversation read from it."""

    pcap: Path
    conversation: Conversation


@dataclass(frozen=True)
class Reuse:
    """Marks an observation taken from an earlier scenario's run instead of a new one.

    grader.scenarios.known says when that is sound: the earlier run showed that the program
    never let the grader's peer in (a server nothing could reach) or never reached it (a
    client), and the later scenario differs only in what that peer would have done.
    """

    program: str
    """The program that was not started again ("server.py")."""
    run: int
    """Which of that program's runs in this grading showed it, counted from 1."""
    reason: str
    """What that run showed, as a clause: "it could not be reached on SERVER_PORT"."""

    @property
    def note(self) -> str:
        """One line for the feedback: where this was seen, and why it was not run again."""
        return (
            f"(seen in the {ordinal(self.run)} run of {self.program} in this grading, where"
            f" {self.reason}; not started again for this check, which could not change that)"
        )


def ordinal(number: int) -> str:
    """1 -> "first", 2 -> "second", ..., 11 -> "11th"."""
    words = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")
    if 1 <= number <= len(words):
        return words[number - 1]
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"


@dataclass(frozen=True)
class ServerSessionObservation:
    server: ProgramRun
    listen: ListenObservation | None
    peer: ClientPeerReport | None
    capture: Capture | None = None
    reused: Reuse | None = None
    """Taken from an earlier run instead of a new one (see Reuse); None when run for this."""


@dataclass(frozen=True)
class UdpServerSessionObservation:
    server: ProgramRun
    listen: ListenObservation | None
    peer: UdpPeerReport | None
    capture: Capture | None = None
    reused: Reuse | None = None
    """Taken from an earlier run instead of a new one (see Reuse); None when run for this."""


@dataclass(frozen=True)
class ClientSessionObservation:
    client: ProgramRun
    peer: ServerPeerReport | None
    server_port: int
    capture: Capture | None = None
    reused: Reuse | None = None
    """Taken from an earlier run instead of a new one (see Reuse); None when run for this."""


@dataclass(frozen=True)
class EndToEndObservation:
    server: ProgramRun
    listen: ListenObservation | None
    client: ProgramRun | None
    capture: Capture | None = None
    reused: Reuse | None = None
    """Taken from an earlier run instead of a new one (see Reuse); None when run for this."""


@dataclass(frozen=True)
class RelayedDatagram:
    """What the relay did with one datagram."""

    direction: Literal["to_server", "to_client"]
    index: int
    payload: bytes
    """The first 64 bytes."""
    size: int
    action: str
    delay_ms: int
    reason: str
    copies: int = 0
    """With duplicate: the copies the relay sent after the datagram."""
    interval_ms: int = 0
    """With duplicate: the time between two copies."""
    at_s: float | None = None
    """When the relay received it, in seconds since the relay started."""


@dataclass(frozen=True)
class PingSessionObservation:
    client: ProgramRun
    relayed: tuple[RelayedDatagram, ...]
    """The first datagrams the relay saw; it keeps a bounded log."""
    relayed_left_out: int = 0
    """Datagrams the relay handled but left out of its log."""
    reused: Reuse | None = None
    """Taken from an earlier run instead of a new one (see Reuse); None when run for this."""


Observation = (
    PingSessionObservation
    | ServerSessionObservation
    | UdpServerSessionObservation
    | ClientSessionObservation
    | EndToEndObservation
)
