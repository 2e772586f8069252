"""server_exit: the student's server exits with the expected status after its work."""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.checks.base import CheckKind, Verdict, passed
from grader.checks.diagnosis import program_problem, unreachable
from grader.scenarios.model import (
    Scenario,
    ServerSession,
    ServerSessionObservation,
    UdpServerSession,
    UdpServerSessionObservation,
)
from grader.spec.model import LabSpec, ReferenceClient, ReferenceUdpClient, doc


@dataclass(frozen=True)
class Params:
    status: int = field(default=0, metadata=doc("The exit status expected."))
    reference_client: ReferenceClient = field(
        default=ReferenceClient(), metadata=doc("What the grader's client does once connected.")
    )
    reference_udp_client: ReferenceUdpClient | None = field(
        default=None, metadata=doc("For a UDP server: what the grader's UDP client sends.")
    )


def scenario(params: Params) -> Scenario:
    if params.reference_udp_client is not None:
        return UdpServerSession(params.reference_udp_client)
    return ServerSession(params.reference_client)


def judge(
    params: Params, seen: ServerSessionObservation | UdpServerSessionObservation, lab: LabSpec
) -> Verdict:
    problem = unreachable(seen.listen, seen.server, lab) or program_problem(seen.server, lab)
    if problem is not None:
        return problem
    server = seen.server
    assert lab.services.server is not None
    sigterm = lab.services.server.serves_forever or isinstance(seen, UdpServerSessionObservation)
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
        return Verdict(
            passed=False,
            summary="the server was still running after serving its client",
            expected=f"exit with status {params.status}",
            received=f"still running {lab.timeouts.exit_s:g} s later (stopped by the grader)",
            cause="After the one connection, close the listening socket and let the program"
            " end instead of looping back to accept().",
        )
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


KIND = CheckKind(
    name="server_exit",
    description="The server exits with the expected status after serving its client.",
    params=Params,
    scenario=scenario,
    judge=judge,
    needs=("server",),
)
