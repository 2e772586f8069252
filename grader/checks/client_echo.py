"""client_echo: through the reference echo server, the client prints exactly its input."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from grader.checks.base import CheckKind, Verdict
from grader.checks.diagnosis import client_problem, stderr_tail, still_running
from grader.scenarios.model import ClientSession, ClientSessionObservation, ProgramRun
from grader.spec.model import Input, LabSpec, ReferenceServer, doc


@dataclass(frozen=True)
class Params:
    stdin: Input = field(metadata=doc("What the client reads on its standard input."))
    status: int = field(default=0, metadata=doc("The exit status expected."))


def output_matches(run: ProgramRun, expected: bytes) -> bool:
    return run.stdout_sha256 == hashlib.sha256(expected).hexdigest()


def judge(params: Params, seen: ClientSessionObservation, lab: LabSpec) -> Verdict:
    expected = params.stdin.build()
    client = seen.client
    problem = client_problem(client, seen.peer, seen.server_port, lab)
    if problem is not None:
        return problem
    if client.timed_out:
        return still_running(client, lab)
    if not output_matches(client, expected):
        return Verdict(
            passed=False,
            summary="stdout is not exactly the input",
            expected=f"{len(expected)} bytes on stdout, the same as stdin",
            received=f"{client.stdout_bytes} bytes",
            cause=(
                "Write the raw bytes with sys.stdout.buffer.write(data), not print(): print adds"
                " a newline and needs text. Read all of stdin with sys.stdin.buffer.read()."
            )
            if client.stdout_bytes != len(expected)
            else "The bytes differ: do not decode, strip or re-encode them.",
            details=stderr_tail(client),
        )
    if client.exit_code != params.status:
        return Verdict(
            passed=False,
            summary=f"the client exited with status {client.exit_code}",
            expected=f"status {params.status}",
            received=f"status {client.exit_code}",
            details=stderr_tail(client),
        )
    return Verdict(passed=True, summary=f"{len(expected)} bytes through the echo, exactly")


KIND = CheckKind(
    name="client_echo",
    description="Through the grader's echo server, the client writes exactly its input.",
    params=Params,
    scenario=lambda params: ClientSession(ReferenceServer(echo=True), params.stdin),
    judge=judge,
    needs=("client",),
)
