"""client_output: against the reference server, the student's client prints the expected line."""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.checks.base import CheckKind, Verdict, passed
from grader.checks.diagnosis import client_problem, missing_line
from grader.scenarios.model import ClientSession, ClientSessionObservation
from grader.spec.model import LabSpec, ReferenceServer, doc


@dataclass(frozen=True)
class Params:
    stdout_line: str = field(metadata=doc("A line the client must print, exactly."))
    reference_server: ReferenceServer = field(
        default=ReferenceServer(), metadata=doc("What the grader's server sends.")
    )


def judge(params: Params, seen: ClientSessionObservation, lab: LabSpec) -> Verdict:
    problem = client_problem(seen.client, seen.peer, seen.server_port, lab)
    if problem is None:
        problem = missing_line(seen.client, params.stdout_line, lab)
    if problem is not None:
        return problem
    return passed(f"printed {params.stdout_line!r}")


KIND = CheckKind(
    name="client_output",
    description="Against the grader's server, the client prints the expected line.",
    params=Params,
    scenario=lambda params: ClientSession(params.reference_server),
    judge=judge,
    needs=("client",),
)
