"""server_listens: the student's server reaches LISTEN on SERVER_PORT, on all interfaces."""

from __future__ import annotations

from grader.checks.base import CheckKind, NoParams, Verdict, passed
from grader.checks.diagnosis import listen_problem
from grader.checks.listening import one_interface_problem
from grader.scenarios.model import ServerSession, ServerSessionObservation
from grader.spec.model import LabSpec


def judge(params: NoParams, seen: ServerSessionObservation, lab: LabSpec) -> Verdict:
    problem = listen_problem(seen.listen, seen.server, lab)
    if problem is not None:
        return problem
    assert seen.listen is not None
    problem = one_interface_problem(seen.listen)
    if problem is not None:
        return problem
    wildcard = next(lst for lst in seen.listen.on_expected_port if lst.all_interfaces)
    both = " (dual-stack: IPv4 and IPv6)" if wildcard.address == "::" else ""
    return passed(f"listening on {wildcard.shown}{both}: all interfaces")


KIND = CheckKind(
    name="server_listens",
    description="The server's port reaches LISTEN within the start timeout, on all interfaces.",
    params=NoParams,
    scenario=lambda params: ServerSession(),
    judge=judge,
    needs=("server",),
)
