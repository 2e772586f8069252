"""server_listens: the student's server reaches LISTEN on SERVER_PORT, on all interfaces."""

from __future__ import annotations

from grader.checks.base import CheckKind, NoParams, Verdict, passed
from grader.checks.diagnosis import listen_problem
from grader.scenarios.model import ServerSession, ServerSessionObservation
from grader.spec.model import LabSpec


def judge(params: NoParams, seen: ServerSessionObservation, lab: LabSpec) -> Verdict:
    problem = listen_problem(seen.listen, seen.server, lab)
    if problem is not None:
        return problem
    assert seen.listen is not None
    return passed(f"listening on port {seen.listen.expected_port} on all interfaces")


KIND = CheckKind(
    name="server_listens",
    description="The server's port reaches LISTEN within the start timeout, on all interfaces.",
    params=NoParams,
    scenario=lambda params: ServerSession(),
    judge=judge,
    needs=("server",),
)
