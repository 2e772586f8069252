"""server_exit: the student's server exits with the expected status after its work."""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.checks.base import CheckKind, Verdict, passed
from grader.checks.diagnosis import program_problem, unreachable
from grader.scenarios.model import ServerSession, ServerSessionObservation
from grader.spec.model import LabSpec, ReferenceClient, doc


@dataclass(frozen=True)
class Params:
    status: int = field(default=0, metadata=doc("The exit status expected."))
    reference_client: ReferenceClient = field(
        default=ReferenceClient(), metadata=doc("What the grader's client does once connected.")
    )


def judge(params: Params, seen: ServerSessionObservation, lab: LabSpec) -> Verdict:
    problem = unreachable(seen.listen, seen.server, lab) or program_problem(seen.server, lab)
    if problem is not None:
        return problem
    server = seen.server
    if server.exit_code is None:
        return Verdict(
            passed=False,
            summary="the server was still running after serving its client",
            expected=f"exit with status {params.status}",
            received=f"still running {lab.timeouts.exit_s:g} s later (stopped by the grader)",
            cause="After the one connection, close the listening socket and let the program"
            " end instead of looping back to accept().",
        )
    if server.exit_code != params.status:
        return Verdict(
            passed=False,
            summary=f"the server exited with status {server.exit_code}",
            expected=f"status {params.status}",
            received=f"status {server.exit_code}",
            cause="Something called sys.exit() with a non-zero status, or an error escaped.",
        )
    return passed(f"exited with status {params.status}")


KIND = CheckKind(
    name="server_exit",
    description="The server exits with the expected status after serving its client.",
    params=Params,
    scenario=lambda params: ServerSession(params.reference_client),
    judge=judge,
    needs=("server",),
)
