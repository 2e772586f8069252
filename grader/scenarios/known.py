"""Decides when an earlier scenario's run already shows what a later scenario would show.

A scenario fixes two things: how the student's program starts (its file, environment and
standard input) and what the grader's peer does once the program lets it in (a server that
listens) or reaches it (a client that connects or sends). When an earlier run showed that the
program never let the peer in, or never reached it, a later scenario that starts the program
the same way and differs only in the peer's plan cannot show anything new: the peer's plan is
never carried out. Its observation is then the earlier one, marked with a Reuse.

When that is sound, exactly:

Server side (ServerSession, UdpServerSession, and EndToEnd, whose server starts the same way):
the server's start never depends on the grader's client (same file, same SERVER_PORT). An
earlier ServerSession or UdpServerSession is a source when nothing reachable listened on
SERVER_PORT (`listen.reachable` is false) and
  (a) the server had exited before the grader's client would start (no peer report): nothing
      of the client reached it; or
  (b) it was still running, bound elsewhere (another port, 127.0.0.1, IPv6 only), and the
      grader's client proved that nothing it sent got in: for TCP, none of its connections
      (the reset one included) connected; for UDP, a UDP client got no reply at all and the
      server had bound some socket by then (a server that had bound nothing yet may bind the
      port later and take datagrams in silence). Its kernel refused the client, so the program
      saw nothing of it. A TCP client says nothing about a UDP server, and the reverse.
  The reused observation keeps the server's run and sockets; its peer is None (this
  scenario's client was not run), and for EndToEnd its client is not run either, as when the
  server cannot be reached.

Client side (ClientSession and ClientAlone with the same stdin; PingSession with the same
env): SERVER_HOST exists in every one of them, and only what answers there differs (the
grader's server, a closed host, the relay and its impairments, or nothing). An earlier run is
a source when no traffic of the client reached SERVER_HOST: the grader's server (or closed
host) accepted nothing, saw no SYN to any port and received nothing; or the relay logged no
datagram towards the server. A client that crashed before any network activity, failed to
resolve a name of its own, or waited out its time talking to another host is such a client. A
PingSession with no server is never a source: nothing there records the client's datagrams.
Stdin or env that differ are never crossed: the program may act on them before it talks.

Packets: a scenario whose packets a check judges takes the earlier run's capture, so the
source must have been captured too; the packets of a program that never let the peer in, or
never reached it, hold nothing of the peer's plan beyond refused attempts. EndToEnd keeps no
capture: its client is not run, and its check judges an unreachable server before packets.
Reuse never crosses a run in which the program let the peer in or reached it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from grader.scenarios.model import (
    ClientAlone,
    ClientPeerReport,
    ClientSession,
    ClientSessionObservation,
    EndToEnd,
    EndToEndObservation,
    Observation,
    PingSession,
    PingSessionObservation,
    ProgramRun,
    Reuse,
    Scenario,
    ServerSession,
    ServerSessionObservation,
    UdpPeerReport,
    UdpServerSession,
    UdpServerSessionObservation,
)

SERVER_UNREACHABLE = "it could not be reached on SERVER_PORT"
CLIENT_NEVER_REACHED = "no connection attempt of it reached SERVER_HOST"
PINGER_NEVER_REACHED = "none of its datagrams reached SERVER_HOST"


@dataclass(frozen=True)
class Earlier:
    """A scenario that was run for this submission, what it showed, and whether it was captured."""

    scenario: Scenario
    observation: Observation
    captured: bool


def known_observation(
    scenario: Scenario,
    earlier: Sequence[Earlier],
    *,
    captured: bool,
    client_absent: ProgramRun | None = None,
) -> Observation | None:
    """What `scenario` would show, taken from a run in `earlier`, or None when it must be run.

    `earlier` holds the scenarios run so far, in the order they ran; `captured` says whether
    some check judges `scenario`'s packets; `client_absent` is the missing-file run of the
    lab's client (or None when it is there), for an EndToEnd whose client is not run. The
    module docstring says when a run is a source. The first source found is used.
    """
    for number, source in enumerate(earlier):
        if captured and not source.captured and not isinstance(scenario, EndToEnd):
            continue
        reuse = _reuse(scenario, source, earlier[: number + 1])
        if reuse is None:
            continue
        derived = _derived(scenario, source, reuse, captured, client_absent)
        if derived is not None:
            return derived
    return None


def _reuse(scenario: Scenario, source: Earlier, upto: Sequence[Earlier]) -> Reuse | None:
    """The Reuse mark when `source` shows what `scenario` would, else None."""
    seen = source.observation
    if isinstance(scenario, (ServerSession, UdpServerSession, EndToEnd)):
        if isinstance(
            seen, (ServerSessionObservation, UdpServerSessionObservation)
        ) and server_unreachable(seen):
            return Reuse(seen.server.file, _runs_of(seen.server.file, upto), SERVER_UNREACHABLE)
        return None
    if isinstance(scenario, (ClientSession, ClientAlone)):
        if (
            isinstance(source.scenario, (ClientSession, ClientAlone))
            and source.scenario.stdin == scenario.stdin
            and isinstance(seen, ClientSessionObservation)
            and client_never_reached(seen)
        ):
            return Reuse(seen.client.file, _runs_of(seen.client.file, upto), CLIENT_NEVER_REACHED)
        return None
    if (
        isinstance(source.scenario, PingSession)
        and source.scenario.env == scenario.env
        and isinstance(seen, PingSessionObservation)
        and pinger_never_reached(source.scenario, seen)
    ):
        return Reuse(seen.client.file, _runs_of(seen.client.file, upto), PINGER_NEVER_REACHED)
    return None


def server_unreachable(seen: ServerSessionObservation | UdpServerSessionObservation) -> bool:
    """Whether this server run shows that no grader's client could have reached the program.

    See the module docstring, "Server side": (a) it exited before the client, or (b) it was
    bound elsewhere and the grader's client of its own protocol was refused throughout.
    """
    run, listen = seen.server, seen.listen
    if not run.ran or listen is None or listen.reachable:
        return False
    if seen.peer is None:
        return True  # (a): the server was gone before the grader's client would have started
    if listen.protocol == "tcp" and isinstance(seen.peer, ClientPeerReport):
        tried = (*seen.peer.connections, *filter(None, (seen.peer.reset_connection,)))
        return bool(tried) and not any(connection.connected for connection in tried)
    if listen.protocol == "udp" and isinstance(seen.peer, UdpPeerReport):
        return seen.peer.replies_total == 0 and bool(listen.listeners)
    return False


def client_never_reached(seen: ClientSessionObservation) -> bool:
    """Whether the grader's server (or closed host) at SERVER_HOST saw nothing of the client."""
    peer = seen.peer
    return (
        seen.client.ran
        and peer is not None
        and not peer.accepted
        and not peer.syn_ports
        and peer.received_bytes == 0
        and not peer.received
    )


def pinger_never_reached(scenario: PingSession, seen: PingSessionObservation) -> bool:
    """Whether the relay at SERVER_HOST logged no datagram of the client (with a server only)."""
    return (
        scenario.server
        and seen.client.ran
        and seen.relayed_left_out == 0
        and not any(d.direction == "to_server" for d in seen.relayed)
    )


def _derived(
    scenario: Scenario,
    source: Earlier,
    reuse: Reuse,
    captured: bool,
    client_absent: ProgramRun | None,
) -> Observation | None:
    seen = source.observation
    capture = getattr(seen, "capture", None) if captured else None
    if isinstance(seen, (ServerSessionObservation, UdpServerSessionObservation)):
        server, listen = seen.server, seen.listen
        if isinstance(scenario, EndToEnd):
            return EndToEndObservation(server, listen, client_absent, None, reuse)
        if isinstance(scenario, UdpServerSession):
            return UdpServerSessionObservation(server, listen, None, capture, reuse)
        return ServerSessionObservation(server, listen, None, capture, reuse)
    if isinstance(seen, ClientSessionObservation):
        return replace(seen, capture=capture, reused=reuse)
    if isinstance(seen, PingSessionObservation):
        return replace(seen, reused=reuse)
    return None


def _runs_of(file: str, upto: Sequence[Earlier]) -> int:
    """How many of the runs in `upto` started the program `file` (the last one counts)."""
    return sum(1 for earlier in upto if file in _started(earlier.observation))


def _started(seen: Observation) -> tuple[str, ...]:
    """The programs this run started (a missing file is not started)."""
    runs = [getattr(seen, role, None) for role in ("server", "client")]
    return tuple(run.file for run in runs if isinstance(run, ProgramRun) and run.ran)
