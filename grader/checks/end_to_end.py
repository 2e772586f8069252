"""end_to_end: the student's client against the student's server prints the expected line."""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.checks.base import CheckKind, Verdict, passed
from grader.checks.diagnosis import missing_line, program_problem, unreachable
from grader.scenarios.model import EndToEnd, EndToEndObservation
from grader.spec.model import LabSpec, doc


@dataclass(frozen=True)
class Params:
    stdout_line: str = field(metadata=doc("A line the client must print, exactly."))


def judge(params: Params, seen: EndToEndObservation, lab: LabSpec) -> Verdict:
    problem = unreachable(seen.listen, seen.server, lab)
    if problem is None and seen.client is not None:
        problem = program_problem(seen.client, lab) or missing_line(
            seen.client, params.stdout_line, lab
        )
    if problem is not None:
        return problem
    return passed(f"your client printed {params.stdout_line!r} from your server")


KIND = CheckKind(
    name="end_to_end",
    description="The client, run against the student's own server, prints the expected line.",
    params=Params,
    scenario=lambda params: EndToEnd(),
    judge=judge,
    needs=("server", "client"),
)
