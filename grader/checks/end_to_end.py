"""end_to_end: the student's client against the student's server prints the expected line."""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.checks.base import CheckKind, Verdict, passed
from grader.checks.client_echo import output_matches
from grader.checks.diagnosis import (
    missing_line,
    program_problem,
    stderr_tail,
    still_running,
    unreachable,
)
from grader.scenarios.model import EndToEnd, EndToEndObservation
from grader.spec.model import Input, LabSpec, doc


@dataclass(frozen=True)
class Params:
    stdout_line: str | None = field(
        default=None, metadata=doc("A line the client must print, exactly.")
    )
    stdin: Input | None = field(default=None, metadata=doc("The client's standard input."))
    stdout_is_stdin: bool = field(
        default=False, metadata=doc("The client must write exactly its input to stdout.")
    )


def judge(params: Params, seen: EndToEndObservation, lab: LabSpec) -> Verdict:
    problem = unreachable(seen.listen, seen.server, lab)
    if problem is None and seen.client is not None:
        problem = program_problem(seen.client, lab)
        if problem is None and seen.client.timed_out:
            problem = still_running(seen.client, lab)
        if problem is None and params.stdout_line is not None:
            problem = missing_line(seen.client, params.stdout_line, lab)
        if problem is None and params.stdout_is_stdin:
            expected = params.stdin.build() if params.stdin else b""
            if not output_matches(seen.client, expected):
                problem = Verdict(
                    passed=False,
                    summary="your client did not write back exactly its input",
                    expected=f"{len(expected)} bytes, the same as stdin",
                    received=f"{seen.client.stdout_bytes} bytes",
                    details=stderr_tail(seen.client),
                )
    if problem is not None:
        return problem
    return passed("your client and your server work together")


KIND = CheckKind(
    name="end_to_end",
    description="The client, run against the student's own server, prints the expected line.",
    params=Params,
    scenario=lambda params: EndToEnd(params.stdin),
    judge=judge,
    needs=("server", "client"),
)
