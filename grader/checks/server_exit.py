"""server_exit: the student's server exits with the expected status after its work."""

from __future__ import annotations

from pydantic import Field

from grader.checks.base import CheckKind, Verdict, passed
from grader.checks.diagnosis import program_problem, stderr_tail, unreachable
from grader.packets.model import FIN
from grader.scenarios.model import (
    ProgramRun,
    Scenario,
    ServerSession,
    ServerSessionObservation,
    UdpServerSession,
    UdpServerSessionObservation,
)
from grader.spec.model import LabSpec, ReferenceClient, ReferenceUdpClient, spec_dataclass


@spec_dataclass
class Params:
    status: int = Field(default=0, ge=0, le=255, description="The exit status expected, 0 to 255.")
    reference_client: ReferenceClient = Field(
        default=ReferenceClient(), description="What the grader's client does once connected."
    )
    reference_udp_client: ReferenceUdpClient | None = Field(
        default=None, description="For a UDP server: what the grader's UDP client sends."
    )
    settle_s: float = Field(
        ge=0,
        default=0.0,
        description="For a server stopped with SIGTERM (serves_forever, or UDP): how long, after"
        " the"
        " grader's client is done, the server is watched for exiting by itself before the"
        " signal is sent. With a second or so, a server that ends after one client is seen"
        " gone however slowly it exits on a loaded machine, instead of racing the signal."
        " 0: the signal at once, and the scenario can be shared with other checks.",
    )


def scenario(params: Params) -> Scenario:
    if params.reference_udp_client is not None:
        return UdpServerSession(params.reference_udp_client, settle_s=params.settle_s)
    return ServerSession(params.reference_client, settle_s=params.settle_s)


def judge(
    params: Params, seen: ServerSessionObservation | UdpServerSessionObservation, lab: LabSpec
) -> Verdict:
    problem = unreachable(seen.listen, seen.server, lab) or program_problem(seen.server, lab)
    if problem is not None:
        return problem
    server = seen.server
    assert lab.services.server is not None
    sigterm = lab.services.server.serves_forever or isinstance(seen, UdpServerSessionObservation)
    if sigterm and server.ended_before_sigterm:
        return exited_too_early(server, params, lab)
    if server.exit_code is None:
        if sigterm:
            return Verdict(
                passed=False,
                summary="the server did not stop on SIGTERM",
                expected=f"exit with status {params.status} within {lab.timeouts.exit_s:g} s",
                received="still running (killed by the grader)",
                cause="Handle SIGTERM: signal.signal(signal.SIGTERM, lambda *_: sys.exit(0)),"
                " and do not catch SystemExit in your loop.",
            )
        if isinstance(seen, ServerSessionObservation) and not_served(seen) is not None:
            return Verdict(
                passed=False,
                summary="the server was still running, and had not served its client",
                expected=f"serve the client, then exit with status {params.status}",
                received=f"no data and no close from the server; still running"
                f" {lab.timeouts.exit_s:g} s later (stopped by the grader)",
                cause="The server never got to serve the connection (see the handshake and"
                " greeting checks): accept() it, send, close it, then let the program end.",
            )
        return Verdict(
            passed=False,
            summary="the server was still running after serving its client",
            expected=f"exit with status {params.status}",
            received=f"still running {lab.timeouts.exit_s:g} s later (stopped by the grader)",
            cause="After the one connection, close the listening socket and let the program"
            " end instead of looping back to accept().",
        )
    if isinstance(seen, ServerSessionObservation) and not sigterm:
        problem = not_served(seen)
        if problem is not None:
            return problem
    if server.exit_code != params.status:
        killed = server.exit_code == 128 + 15 and sigterm
        return Verdict(
            passed=False,
            summary=f"the server exited with status {server.exit_code}"
            + (" (killed by SIGTERM)" if killed else ""),
            expected=f"status {params.status}",
            received=f"status {server.exit_code}",
            cause="Python's default on SIGTERM is to die with it: install a handler that calls"
            " sys.exit(0)."
            if killed
            else "Something called sys.exit() with a non-zero status, or an error escaped.",
        )
    return passed(f"exited with status {params.status}")


def exited_too_early(server: ProgramRun, params: Params, lab: LabSpec) -> Verdict:
    """A server that runs until it is stopped had stopped by itself before the signal."""
    udp = lab.services.server is not None and lab.services.server.protocol == "udp"
    return Verdict(
        passed=False,
        summary=f"your server had already exited (status {server.exit_code}) before the grader's"
        " SIGTERM reached it, so its way of stopping could not be tested",
        expected=f"still running after its clients; on SIGTERM, exit with status {params.status}"
        f" within {lab.timeouts.exit_s:g} s",
        received=f"it exited by itself with status {server.exit_code}",
        cause=f"A server serves one client after another until it is stopped: loop around"
        f" {'recvfrom()' if udp else 'accept()'}, and on SIGTERM exit with"
        " signal.signal(signal.SIGTERM, lambda *_: sys.exit(0)).",
        details=stderr_tail(server),
    )


def not_served(seen: ServerSessionObservation) -> Verdict | None:
    """A failing verdict when the server exited without serving the grader's client.

    Served means it accepted the connection and ended it: data came back, or its FIN did.
    A listening socket that closes with a connection still waiting in its queue resets it.
    """
    connection = seen.peer.first if seen.peer is not None and seen.peer.connections else None
    if (
        connection is not None
        and connection.connected
        and (connection.received_bytes > 0 or connection.end == "fin")
    ):
        return None
    if connection is not None and connection.end == "timeout" and answered_late(seen):
        return None  # accepted: it answered after the grader's client gave up (server_sends)
    what = (
        "it exited before the grader's client could connect"
        if connection is None or not connection.connected
        else "the connection was reset without a byte from the server"
        if connection.end == "rst"
        else "the connection got nothing from the server and was never closed"
    )
    return Verdict(
        passed=False,
        summary="the server exited without serving its client",
        expected="accept() the client, serve it, close the connection, then exit",
        received=what,
        cause="The program ended before accept() returned a connection: call accept(), serve"
        " that client, and only then let the program end.",
        details=stderr_tail(seen.server),
    )


def answered_late(seen: ServerSessionObservation) -> bool:
    """Whether the capture shows the server's data or FIN on the grader's connection.

    Only an accepted connection carries them (one left in the listening queue is reset when
    the server exits), so the server accepted its client, however late it answered.
    """
    if seen.capture is None or seen.listen is None:
        return False
    return any(
        segment.direction == "to_client" and (segment.packet.payload or segment.packet.has(FIN))
        for flow in seen.capture.conversation.tcp_to(seen.listen.expected_port)
        for segment in flow.segments
    )


KIND = CheckKind(
    name="server_exit",
    description="The server exits with the expected status after serving its client.",
    params=Params,
    scenario=scenario,
    judge=judge,
    needs=("server",),
)
