"""end_to_end: the student's client against the student's server prints the expected output."""

from __future__ import annotations

from pydantic import Field

from grader.checks.base import CheckKind, Verdict, passed
from grader.checks.byte_causes import byte_cause, difference_window, first_difference
from grader.checks.client_echo import output_matches
from grader.checks.diagnosis import (
    missing_line,
    program_problem,
    shown,
    size_text,
    stderr_tail,
    stdout_lines,
    still_running,
    unreachable,
)
from grader.checks.printed import contains_text, missing_text
from grader.scenarios.model import EndToEnd, EndToEndObservation, ProgramRun
from grader.spec.model import Input, LabSpec, spec_dataclass

FLOOD_MARGIN_BYTES = 1 << 20
"""A client that wrote this much more than its input was fed by a flooding server."""


@spec_dataclass
class Params:
    stdout_line: str | None = Field(
        default=None, description="A line the client must print, exactly."
    )
    stdout_contains: str | None = Field(
        default=None,
        description="Text the client must print somewhere, in any line format (the format is the"
        " point of the client's own output checks).",
        min_length=1,
    )
    stdin: Input | None = Field(default=None, description="The client's standard input.")
    stdout_is_stdin: bool = Field(
        default=False, description="The client must write exactly its input to stdout."
    )


def judge(params: Params, seen: EndToEndObservation, lab: LabSpec) -> Verdict:
    problem = unreachable(seen.listen, seen.server, lab)
    if problem is None and seen.client is not None:
        # The output is judged as printed, also when the client crashed or hung afterwards:
        # how it ended is the exit checks' point.
        if output_right(params, seen.client):
            problem = no_exchange(seen)
        else:
            problem = program_problem(seen.client, lab) or server_silent(params, seen)
            problem = problem or server_changed_echo(params, seen)
            problem = problem or server_sent_other(params, seen)
            problem = problem or output_problem(params, seen.client, lab)
    if problem is not None:
        return problem
    return passed("your client and your server work together")


def expected_output(params: Params) -> bytes:
    return params.stdin.build() if params.stdin else b""


def output_right(params: Params, client: ProgramRun) -> bool:
    """Whether the client printed everything the check asks for."""
    if client.missing:
        return False
    if params.stdout_line is not None and params.stdout_line not in stdout_lines(client):
        return False
    if params.stdout_contains is not None and not contains_text(client, params.stdout_contains):
        return False
    return not params.stdout_is_stdin or output_matches(client, expected_output(params))


def output_problem(params: Params, client: ProgramRun, lab: LabSpec) -> Verdict | None:
    """Why the client's output is not what the check asks for: a crash, a stall, or the
    output itself."""
    problem = None
    if client.timed_out:
        problem = flooded(params, client) or (
            still_running(client, lab) if not client.stdout else None
        )
    if problem is None and params.stdout_line is not None:
        problem = missing_line(client, params.stdout_line, lab)
    if problem is None and params.stdout_contains is not None:
        problem = missing_text(client, params.stdout_contains, lab)
    if problem is None and params.stdout_is_stdin:
        problem = not_its_input(expected_output(params), client, lab)
    return problem


def not_its_input(expected: bytes, client: ProgramRun, lab: LabSpec) -> Verdict | None:
    """A failing verdict when the client's stdout is not exactly its input, else None."""
    if output_matches(client, expected):
        return None
    kept = b"" if client.output_cut else client.stdout
    cause = byte_cause(expected, kept, client.stdout_bytes, "client")
    offset = first_difference(expected, kept) if kept or not client.stdout_bytes else None
    if cause is None and client.timed_out:
        cause = still_running(client, lab).cause
    details = difference_window(expected, kept, offset) if offset is not None else ()
    return Verdict(
        passed=False,
        summary="your client did not write back exactly its input",
        expected=f"{size_text(len(expected))} on stdout, the same as stdin: {shown(expected)}",
        received=f"{size_text(client.stdout_bytes)}"
        + (f", first difference at byte {offset}" if offset is not None else "")
        + (f": {shown(kept)}" if kept else ""),
        cause=cause
        or "The bytes differ from the input: write exactly what recv() returned, with no"
        " decoding or re-encoding.",
        details=(*details, *stderr_tail(client)),
    )


def server_changed_echo(params: Params, seen: EndToEndObservation) -> Verdict | None:
    """A failing verdict when the capture shows the server sent back other bytes than the
    client sent it, for a client that must print its input: then the server is at fault,
    not the client's output. None otherwise, or when the capture cannot tell."""
    if not params.stdout_is_stdin or seen.capture is None or seen.listen is None:
        return None
    if seen.capture.conversation.truncated:
        return None
    flows = seen.capture.conversation.tcp_to(seen.listen.expected_port)
    sent = b"".join(flow.data("to_server") for flow in flows)
    back = b"".join(flow.data("to_client") for flow in flows)
    if not sent or back == sent or sent.startswith(back):  # nothing asked, or a cut echo
        return None
    offset = first_difference(sent, back)
    return Verdict(
        passed=False,
        summary="your server did not send back exactly what your client sent it",
        expected=f"{size_text(len(sent))} back: {shown(sent)}",
        received=f"{size_text(len(back))}"
        + (f", first difference at byte {offset}" if offset is not None else "")
        + f": {shown(back)}",
        cause=byte_cause(sent, back, len(back), "server")
        or "The server changed the bytes (see the echo checks): send back exactly what recv()"
        " returned.",
        details=difference_window(sent, back, offset) if offset is not None else (),
    )


def server_sent_other(params: Params, seen: EndToEndObservation) -> Verdict | None:
    """A failing verdict when the text the client must print never came from the server.

    For `stdout_contains` (text that crosses from the server to the client): when the
    capture shows the server's data to the client without that text, the client could not
    have printed it, and the server is at fault, not the client's output. None otherwise,
    or when the capture cannot tell.
    """
    if params.stdout_contains is None or seen.capture is None or seen.listen is None:
        return None
    if seen.capture.conversation.truncated:
        return None
    flows = seen.capture.conversation.tcp_to(seen.listen.expected_port)
    back = b"".join(flow.data("to_client") for flow in flows)
    wanted = params.stdout_contains.encode()
    if not back or wanted in back:
        return None
    return Verdict(
        passed=False,
        summary="your server did not send your client the text it must print",
        expected=f"{shown(wanted)} in your server's data to your client",
        received=f"{size_text(len(back))} from your server: {shown(back)}",
        cause="A client can print only what it receives: change what your server sends (its"
        " own checks above show how); your client is not at fault here.",
        details=stderr_tail(seen.server),
    )


def server_silent(params: Params, seen: EndToEndObservation) -> Verdict | None:
    """A failing verdict when the client reached the server, asked, and got nothing back.

    From the capture: a connection to the server's port completed, the client sent its
    request (or, with no stdin, the server was to speak first), and no data came back. None
    otherwise, or when the capture cannot tell.
    """
    if seen.capture is None or seen.listen is None or seen.capture.conversation.truncated:
        return None
    tried = seen.capture.conversation.tcp_to(seen.listen.expected_port)
    flows = [flow for flow in tried if flow.handshake.complete]
    if tried and not flows:
        return Verdict(
            passed=False,
            summary="your client's connection to your server never completed",
            expected="the handshake: your client's SYN answered by your server's SYN-ACK",
            received="SYN from your client, and no SYN-ACK from your server",
            cause="Your server did not take the connection (see its handshake check), so your"
            " client waited for ever.",
            details=stderr_tail(seen.server),
        )
    asked = params.stdin is None or any(flow.data("to_server") for flow in flows)
    if not flows or not asked or any(flow.data("to_client") for flow in flows):
        return None
    return Verdict(
        passed=False,
        summary="your client reached your server, but your server sent it nothing",
        expected="your server's data on the connection from your client",
        received="a connection, and no data from your server on it",
        cause="With nothing received, your client had nothing to print: the server's checks"
        " above say why your server sent nothing.",
        details=(
            *stderr_tail(seen.server),
            *(stderr_tail(seen.client) if seen.client is not None else ()),
        ),
    )


def no_exchange(seen: EndToEndObservation) -> Verdict | None:
    """A failing verdict when the capture shows nothing from the server reached a client.

    The client's output alone proves nothing: a client can print the expected line without
    ever connecting. None when the capture shows the server's data (or cannot tell: no
    capture, or one cut short).
    """
    if seen.capture is None or seen.listen is None:
        return None
    conversation = seen.capture.conversation
    if conversation.truncated:
        return None
    port = seen.listen.expected_port
    tcp = any(
        flow.handshake.complete and flow.data("to_client") for flow in conversation.tcp_to(port)
    )
    udp = any(flow.sent("to_client") for flow in conversation.udp_to(port))
    if tcp or udp:
        return None
    return Verdict(
        passed=False,
        summary="your client's output did not come from your server",
        expected=f"a connection from your client to your server's port {port} that carries"
        " the server's data back",
        received="no data from your server to any client in the capture of your server's traffic",
        cause="The client must print what it received from the server, not a line of its own:"
        " connect to SERVER_HOST:SERVER_PORT and print what recv() returns.",
        details=stderr_tail(seen.client) if seen.client is not None else (),
    )


def flooded(params: Params, client: ProgramRun) -> Verdict | None:
    """A client stopped while it wrote far more than its input: the server kept sending."""
    if not params.stdout_is_stdin:
        return None
    expected = len(params.stdin.build()) if params.stdin else 0
    if client.stdout_bytes <= expected + FLOOD_MARGIN_BYTES:
        return None
    return Verdict(
        passed=False,
        summary=f"your client wrote {size_text(client.stdout_bytes)} for"
        f" {size_text(expected)} of input and was still running after"
        f" {client.elapsed_s or 0:.0f} s",
        expected=f"{size_text(expected)} on stdout, then an exit",
        received=f"{size_text(client.stdout_bytes)} and still writing",
        cause="Your server kept sending after the echo was complete (see the echo checks):"
        " send back each piece once, then recv() again.",
        details=stderr_tail(client),
    )


KIND = CheckKind(
    name="end_to_end",
    description="The client, run against the student's own server, prints the expected line.",
    params=Params,
    scenario=lambda params: EndToEnd(params.stdin),
    judge=judge,
    needs=("server", "client"),
    captures=True,  # the server's traffic proves the client's output came from it
)
