"""client_output: against the reference server, the student's client prints the expected line."""

from __future__ import annotations

from dataclasses import replace

from pydantic import Field, model_validator

from grader.checks.base import CheckKind, Verdict, passed
from grader.checks.diagnosis import bytes_text, client_problem, missing_line, stdout_lines
from grader.checks.packets import diagram, flow_to
from grader.checks.printed import contains_text, missing_text
from grader.packets.model import FIN
from grader.scenarios.model import ClientSession, ClientSessionObservation, ProgramRun
from grader.spec.model import LabSpec, ReferenceServer, spec_dataclass


@spec_dataclass
class Params:
    stdout_line: str | None = Field(
        default=None, description="A line the client must print, exactly."
    )
    stdout_contains: str | None = Field(
        default=None,
        description="Instead of stdout_line: text the client must print somewhere, in any line"
        " format"
        " (for a check whose point is that all of it arrived).",
        min_length=1,
    )
    reference_server: ReferenceServer = Field(
        default=ReferenceServer(), description="What the grader's server sends."
    )

    @model_validator(mode="after")
    def _one_expectation(self) -> Params:
        if (self.stdout_line is None) == (self.stdout_contains is None):
            raise ValueError("give one of stdout_line and stdout_contains: what the client prints")
        return self


def judge(params: Params, seen: ClientSessionObservation, lab: LabSpec) -> Verdict:
    # The output is judged as printed, also when the program crashed or hung afterwards:
    # how it ended is the exit check's point.
    if printed(params, seen.client) and seen.peer is not None and seen.peer.accepted:
        return passed(f"printed {wanted(params)!r}")
    problem = client_problem(seen.client, seen.peer, seen.server_port, lab)
    if problem is None:
        problem = (
            missing_line(seen.client, params.stdout_line, lab)
            if params.stdout_line is not None
            else missing_text(seen.client, params.stdout_contains or "", lab)
        )
        if problem is not None and seen.capture is not None:
            problem = replace(problem, diagram=pieces_diagram(seen))
    if problem is not None:
        return problem
    return passed(f"printed {wanted(params)!r}")


def wanted(params: Params) -> str:
    return params.stdout_line if params.stdout_line is not None else params.stdout_contains or ""


def printed(params: Params, run: ProgramRun) -> bool:
    """Whether the program printed the line (or the text) the check asks for."""
    if params.stdout_line is not None:
        return params.stdout_line in stdout_lines(run)
    return contains_text(run, params.stdout_contains or "")


def pieces_diagram(seen: ClientSessionObservation) -> tuple[str, ...]:
    """The capture, with each later piece of the server's data marked as its own segment."""
    assert seen.capture is not None
    conversation = seen.capture.conversation
    flow = flow_to(conversation, seen.server_port)
    if flow is None:
        return diagram(conversation, None, {})
    data = [s.packet for s in flow.segments if s.direction == "to_client" and s.packet.payload]
    marks = {
        packet.number: "a separate segment: one recv() may return only part of the stream"
        for packet in data[1:]
    }
    client_fin = flow.first(FIN, "to_server")
    if client_fin is not None:
        before = sum(len(p.payload) for p in data if p.number < client_fin.packet.number)
        marks[client_fin.packet.number] = f"your client closed after {bytes_text(before)} of data"
    return diagram(conversation, flow, marks)


KIND = CheckKind(
    name="client_output",
    description="Against the grader's server, the client prints the expected line.",
    params=Params,
    scenario=lambda params: ClientSession(params.reference_server),
    judge=judge,
    needs=("client",),
    # Pieces sent with pauses travel as separate segments: the capture shows the student why.
    captures=lambda params: len(params.reference_server.send) > 1,
)
