"""client_no_server: with nothing listening, the client fails politely (status, message)."""

from __future__ import annotations

from pydantic import Field

from grader.checks.base import CheckKind, Verdict, passed
from grader.checks.diagnosis import (
    crash_lesson,
    died_of_crash,
    program_problem,
    role_of,
    stderr_tail,
    unrunnable,
)
from grader.scenarios.model import ClientAlone, ClientSessionObservation
from grader.spec.model import Input, LabSpec, spec_dataclass


@spec_dataclass
class Params:
    status: int | None = Field(
        default=None,
        ge=0,
        le=255,
        description="The exit status expected, 0 to 255; by default any non-zero one.",
    )
    stdin: Input | None = Field(
        default=None,
        description="What the client reads on its standard input (none by default): for a client"
        " that"
        " reads its request first, so that this check tests the missing server, not the input.",
    )


def judge(params: Params, seen: ClientSessionObservation, lab: LabSpec) -> Verdict:
    client = seen.client
    if client.missing or client.oom_killed:
        problem = program_problem(client, lab)
        assert problem is not None
        return problem
    # A file Python cannot compile exits with status 1 and a message, without ever trying.
    refused = unrunnable(client)
    if refused is not None:
        return refused
    expected = "a non-zero exit status and a one-line message on stderr, no traceback"
    if client.timed_out:
        return Verdict(
            passed=False,
            summary=f"the client was still running after {lab.timeouts.run_s:g} s",
            expected=expected,
            received="no exit (stopped by the grader)",
            cause="When connect() fails, print a message to stderr and exit; do not retry forever.",
        )
    crash = died_of_crash(client)
    if crash is not None and not crash.while_connecting:
        return Verdict(
            passed=False,
            summary=f"the client crashed instead of reporting that it could not connect:"
            f" {crash.error}",
            expected=expected,
            received=f"a traceback, exit status {client.exit_code}",
            cause=crash_lesson(crash, role_of(client, lab)),
            details=stderr_tail(client),
        )
    if crash is not None:
        return Verdict(
            passed=False,
            summary="the client crashed with a traceback when no server was listening",
            expected=expected,
            received=f"a traceback, exit status {client.exit_code}",
            cause="Catch the connection error (except OSError as e:), print a short message with"
            " print(..., file=sys.stderr) and call sys.exit(1).",
            details=stderr_tail(client),
        )
    if client.exit_code == 0:
        return Verdict(
            passed=False,
            summary="the client exited with status 0 although it could not connect",
            expected=expected,
            received="status 0",
            cause="Exit with sys.exit(1) after the error message, so scripts can tell it failed.",
        )
    if params.status is not None and client.exit_code != params.status:
        return Verdict(
            passed=False,
            summary=f"the client exited with status {client.exit_code}",
            expected=f"status {params.status} and a message on stderr",
            received=f"status {client.exit_code}",
            cause=f"Call sys.exit({params.status}) after printing the error message.",
        )
    if not client.stderr.strip():
        return Verdict(
            passed=False,
            summary="the client printed nothing on stderr",
            expected=expected,
            received=f"status {client.exit_code}, empty stderr",
            cause="Error messages belong on stderr: print(..., file=sys.stderr).",
        )
    return passed(f"exited with status {client.exit_code} and an error message")


KIND = CheckKind(
    name="client_no_server",
    description="With no server listening, the client exits non-zero with a message, no traceback.",
    params=Params,
    scenario=lambda params: ClientAlone(params.stdin),
    judge=judge,
    needs=("client",),
)
