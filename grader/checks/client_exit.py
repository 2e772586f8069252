"""client_exit: against the reference server, the student's client exits with a status."""

from __future__ import annotations

from pydantic import Field

from grader.checks.base import CheckKind, Verdict, passed
from grader.checks.diagnosis import client_problem, stderr_tail, still_running
from grader.scenarios.model import ClientSession, ClientSessionObservation
from grader.spec.model import LabSpec, ReferenceServer, spec_dataclass


@spec_dataclass
class Params:
    status: int = Field(default=0, ge=0, le=255, description="The exit status expected, 0 to 255.")
    reference_server: ReferenceServer = Field(
        default=ReferenceServer(), description="What the grader's server sends."
    )


def judge(params: Params, seen: ClientSessionObservation, lab: LabSpec) -> Verdict:
    problem = client_problem(seen.client, seen.peer, seen.server_port, lab)
    if problem is not None:
        return problem
    if seen.client.timed_out:
        return still_running(seen.client, lab)
    if seen.client.exit_code != params.status:
        return Verdict(
            passed=False,
            summary=f"the client exited with status {seen.client.exit_code}",
            expected=f"status {params.status}",
            received=f"status {seen.client.exit_code}",
            cause="Something called sys.exit() with a non-zero status, or an error escaped.",
            details=stderr_tail(seen.client),
        )
    return passed(f"exited with status {params.status}")


KIND = CheckKind(
    name="client_exit",
    description="Against the grader's server, the client exits with the expected status.",
    params=Params,
    scenario=lambda params: ClientSession(params.reference_server),
    judge=judge,
    needs=("client",),
)
