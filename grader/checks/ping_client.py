"""ping_client: the student's UDP pinger, through the grader's relay, reports what happened.

The relay drops, duplicates or delays replies as the spec says, the same way every run; the
check reads the pinger's output line by line and compares it with what the relay did.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal, get_args

from pydantic import Field, model_validator

from grader.checks.base import CheckKind, Verdict, passed
from grader.checks.diagnosis import program_problem, shorten, stderr_tail, still_running
from grader.checks.ping_output import PingOutput, parse
from grader.scenarios.model import (
    PingSession,
    PingSessionObservation,
    ProgramRun,
    RelayedDatagram,
)
from grader.spec.model import Impairment, LabSpec, spec_dataclass

REQUEST = re.compile(rb"^PING (\d+) \d+(\.\d+)?$")


@spec_dataclass
class RttFloor:
    seq: int = Field(ge=1, description="The ping whose round-trip time is checked, from 1.")
    ms: float = Field(
        ge=0,
        description="Milliseconds the round-trip time must at least be (the relay held the reply).",
    )


Point = Literal[
    "lines",
    "counts",
    "summary",
    "rtt_line",
    "rtt_floors",
    "rtt_unit",
    "duration",
    "time_left",
    "status",
]
POINTS: tuple[Point, ...] = get_args(Point)


@spec_dataclass
class Params:
    count: int = Field(
        default=10, ge=1, le=1000, description="PING_COUNT given to the client: how many pings."
    )
    timeout_s: float = Field(
        default=1.0,
        gt=0,
        description="PING_TIMEOUT given to the client: seconds to wait for each reply.",
    )
    impairment: Impairment = Field(
        default_factory=Impairment, description="What the relay does to the traffic."
    )
    server: bool = Field(default=True, description="False: nothing answers at SERVER_HOST.")
    timed_out: tuple[int, ...] = Field(
        default=(), description="The pings that must time out; every other one gets a reply."
    )
    rtt_at_least: tuple[RttFloor, ...] = Field(
        default=(), description="Round-trip times that must be at least so long."
    )
    judges: tuple[Point, ...] = Field(
        default=POINTS,
        description="What this check judges of the pinger's output: `lines` (one line per ping, a"
        " reply"
        " or a timeout as it should be), `counts` (the summary's transmitted and received"
        " counts, not its loss), `summary` (sent, received, loss), `rtt_line`"
        " (rtt min/avg/max), `rtt_floors` (rtt_at_least), `rtt_unit` (a floor met only in"
        " seconds fails here and passes the other floor checks), `duration` (with no"
        " server, about PING_COUNT x PING_TIMEOUT), `time_left` (stray copies arriving"
        " while a ping waits neither stretch a timed-out wait past a quiet one's by more"
        " than PING_TIMEOUT + 1 s nor end the wait for a reply that comes in time),"
        " `status` (exit status 0). By default"
        " all: give each check the points it is about, so one mistake costs one check.",
        min_length=1,
    )

    @model_validator(mode="after")
    def _pings_exist(self) -> Params:
        named = [*self.timed_out, *(floor.seq for floor in self.rtt_at_least)]
        beyond = sorted({seq for seq in named if not 1 <= seq <= self.count})
        if beyond:
            raise ValueError(
                f"ping {beyond[0]} is named, but the client sends pings 1 to {self.count} (count)"
            )
        return self


def scenario(params: Params) -> PingSession:
    env = (("PING_COUNT", str(params.count)), ("PING_TIMEOUT", f"{params.timeout_s:g}"))
    return PingSession(impairment=params.impairment, server=params.server, env=env)


RELAY_LINES_KEPT = 20


def relay_lines(relayed: tuple[RelayedDatagram, ...], left_out: int = 0) -> tuple[str, ...]:
    """What the relay did, one line per datagram it did something to, for the feedback.

    At most RELAY_LINES_KEPT lines: the middle of a longer list is left out and counted.
    """
    if not relayed:
        return ()
    lines = []
    for d in relayed:
        if d.action == "forward":
            continue
        what = d.action + (f" by {d.delay_ms} ms" if d.action == "delay" else "")
        if d.action == "duplicate" and d.copies > 1:
            what += f" ({d.copies} copies, one every {d.interval_ms} ms)"
        lines.append(f"  {d.direction} #{d.index} {d.payload[:40]!r}: {what} ({d.reason})")
    if len(lines) > RELAY_LINES_KEPT:
        half = RELAY_LINES_KEPT // 2
        hidden = len(lines) - 2 * half
        lines = [*lines[:half], f"  ... ({hidden} more not shown) ...", *lines[-half:]]
    if left_out:
        lines.append(f"  ... and {left_out} more datagrams the relay did not log")
    if not lines:
        return ("the relay forwarded every datagram unchanged",)
    return ("what the grader's relay did:", *lines)


def judge(params: Params, seen: PingSessionObservation, lab: LabSpec) -> Verdict:
    client = seen.client
    problem = program_problem(client, lab)
    if problem is not None:
        return problem
    relayed = relay_lines(seen.relayed, seen.relayed_left_out)
    silent = never_reached(params, seen)
    if silent is not None:
        return silent
    if client.timed_out:
        return replace(
            still_running(client, lab),
            cause="With UDP a reply may never come: give recvfrom() a deadline with"
            " sock.settimeout(...) and print 'Request timed out' when it passes.",
            details=(*relayed, *output_lines(client.stdout_text)),
        )
    context = (*relayed, *output_lines(client.stdout_text), *stderr_tail(client))
    output = parse(client.stdout_text)
    judged = set(params.judges)
    problems: dict[Point, Callable[[], Verdict | None]] = {
        "lines": lambda: lines_problem(params, output, seen.relayed),
        "counts": lambda: summary_problem(params, output, counts_only=True),
        "summary": lambda: summary_problem(params, output),
        "rtt_line": lambda: rtt_line_problem(params, output),
        "rtt_floors": lambda: rtt_floor_problem(params, output),
        "duration": lambda: timing_problem(params, client.elapsed_s),
        "time_left": lambda: time_left_problem(params, output, seen.relayed),
    }
    verdict = requests_problem(seen.relayed)
    for point, find in problems.items():
        if verdict is None and point in judged:
            verdict = find()
    if verdict is not None:
        return Verdict(
            passed=False,
            summary=verdict.summary,
            expected=verdict.expected,
            received=verdict.received,
            cause=verdict.cause,
            details=context,
        )
    if "status" in judged and client.exit_code != 0:
        return Verdict(
            passed=False,
            summary=f"the client exited with status {client.exit_code}",
            expected="status 0, also when pings are lost",
            received=f"status {client.exit_code}",
            cause="Lost pings are a result to report, not an error of the program: exit with"
            " status 0 after the summary, whatever the loss.",
            details=context,
        )
    if judged == {"time_left"}:
        return passed("it waited PING_TIMEOUT for each reply, strays or not")
    lost = len(params.timed_out)
    return passed(
        f"{params.count} pings, {lost} timed out as they should"
        + (", summary right" if "summary" in judged else "")
    )


NO_ARGUMENTS = (
    "The grader runs `python3 client.py` with no command-line arguments and gives everything"
    " in environment variables: read SERVER_HOST, SERVER_PORT, PING_COUNT and PING_TIMEOUT with"
    " os.environ.get(...) instead of sys.argv."
)


def early_exit_cause(client: ProgramRun) -> str:
    """Why a client stopped before its first ping, from what it printed (no traceback)."""
    said = (client.stdout_text + client.stderr_text).lower()
    if "usage" in said or "argv" in said or "argument" in said:
        return NO_ARGUMENTS
    return (
        "The client stopped before it sent a ping; its last lines below say why. The grader"
        " gives the server's name in SERVER_HOST: read it with os.environ.get('SERVER_HOST',"
        " 'localhost') rather than a name of your own."
    )


def never_reached(params: Params, seen: PingSessionObservation) -> Verdict | None:
    """A failing verdict when the client sent no ping where it should, else None.

    With a server, the relay at SERVER_HOST logs every datagram, so none logged means none
    reached it. With no server nothing records the datagrams; a client that exited with an
    error status without printing a line for any ping is judged by that instead.
    """
    client = seen.client
    pinged = bool(parse(client.stdout_text).results)
    exited_early = not client.timed_out and client.exit_code not in (None, 0) and not pinged
    details = (*output_lines(client.stdout_text), *stderr_tail(client))
    if not params.server:
        if not exited_early:
            return None
        return Verdict(
            passed=False,
            summary=f"the client exited with status {client.exit_code} before its first ping",
            expected=f"{params.count} pings, each timing out, then the summary; status 0",
            received=f"status {client.exit_code}, no line for any ping",
            cause=early_exit_cause(client),
            details=details,
        )
    arrived = seen.relayed_left_out > 0 or any(d.direction == "to_server" for d in seen.relayed)
    if arrived:
        return None
    return Verdict(
        passed=False,
        summary="no datagram from the client reached the server",
        expected=f"{params.count} PING datagrams to SERVER_HOST on SERVER_PORT",
        received="none arrived there: the grader's relay at SERVER_HOST saw nothing",
        cause=early_exit_cause(client)
        if exited_early
        else "The client sends its pings somewhere else, probably to localhost or a hard-coded"
        " host or port: read them with os.environ.get('SERVER_HOST', 'localhost') and"
        " int(os.environ.get('SERVER_PORT', ...)).",
        details=details,
    )


def output_lines(text: str) -> tuple[str, ...]:
    """The first 30 lines the client printed, each cut to a readable length."""
    lines = [shorten(line) for line in text.splitlines() if line.strip()][:30]
    return ("what the client printed:", *(f"  {line}" for line in lines)) if lines else ()


def requests_problem(relayed: tuple[RelayedDatagram, ...]) -> Verdict | None:
    for d in relayed:
        if d.direction == "to_server" and not REQUEST.match(d.payload):
            return Verdict(
                passed=False,
                summary=f"ping #{d.index} was not 'PING <seq> <time>'",
                expected="b'PING 1 1732812345.123'",
                received=repr(d.payload),
                cause="Send f'PING {seq} {time.time()}'.encode(), one datagram per ping.",
            )
    return None


def lines_problem(
    params: Params, output: PingOutput, relayed: tuple[RelayedDatagram, ...] = ()
) -> Verdict | None:
    for seq in range(1, params.count + 1):
        lines = output.for_seq(seq)
        should_time_out = seq in params.timed_out
        expected = (
            f"'Request timed out: seq={seq}'"
            if should_time_out
            else f"'Reply from ...: seq={seq} rtt=... ms'"
        )
        if len(lines) != 1:
            return Verdict(
                passed=False,
                summary=f"{len(lines)} result lines for seq={seq}",
                expected=f"exactly one line: {expected}",
                received=f"{len(lines)}",
                cause="A duplicated or late reply must not be printed or counted again: accept"
                " only the reply whose seq is the one you are waiting for."
                if len(lines) > 1
                else "Print one line per ping, a reply or a timeout.",
            )
        if lines[0].replied == should_time_out:
            if should_time_out:
                return reply_where_timeout_belongs(seq, lines[0].rtt_ms, relayed)
            return Verdict(
                passed=False,
                summary=f"seq={seq} should get a reply",
                expected=expected,
                received="a timeout",
                cause="Wait up to PING_TIMEOUT for the reply, ignoring datagrams for other seqs.",
            )
    return None


def reply_where_timeout_belongs(
    seq: int, rtt_ms: float | None, relayed: tuple[RelayedDatagram, ...]
) -> Verdict:
    """The verdict on a reply printed for a ping that should time out.

    What the relay did to that ping's own reply tells which mistake it is: a reply that was
    dropped, or held longer than the client printed, cannot be what the client took, so it
    took another ping's (a duplicate, or a reply that came after its own ping gave up); a held
    reply whose hold the printed rtt covers was its own, read after PING_TIMEOUT had passed.
    """
    expected = f"'Request timed out: seq={seq}'"
    received = "a reply" + (f" (rtt={rtt_ms:g} ms)" if rtt_ms is not None else "")
    own = [d for d in relayed if d.direction == "to_client" and reply_seq(d.payload) == seq]
    if own and all(d.action == "drop" for d in own):
        what = f"the relay dropped seq {seq}'s own reply"
    elif own and rtt_ms is not None and all(rtt_ms < d.delay_ms for d in own):
        what = f"the relay held seq {seq}'s own reply {max(d.delay_ms for d in own)} ms"
    elif own:
        return Verdict(
            passed=False,
            summary=f"seq={seq} got its reply after PING_TIMEOUT had passed",
            expected=expected,
            received=received,
            cause="The relay held this reply longer than PING_TIMEOUT: stop waiting when the"
            " timeout passes (sock.settimeout with the time left), print the timeout, move on.",
        )
    else:
        what = f"seq {seq}'s own reply never came in time"
    return Verdict(
        passed=False,
        summary=f"seq={seq} was answered by another ping's reply ({what})",
        expected=expected,
        received=received,
        cause="Another ping's reply (a duplicate or a late one) arrived while this ping waited"
        " and was taken for it: check the seq in each reply and ignore the others.",
    )


def reply_seq(payload: bytes) -> int | None:
    """The seq of a 'PING <seq> <time>' datagram, or None."""
    found = REQUEST.match(payload)
    return int(found.group(1)) if found else None


def summary_problem(
    params: Params, output: PingOutput, *, counts_only: bool = False
) -> Verdict | None:
    """A failing verdict when the summary line is missing or wrong, else None.

    With `counts_only`, a wrong loss percentage beside the right counts passes: that is the
    percentage's mistake, judged where `summary` is.
    """
    received = params.count - len(params.timed_out)
    loss = 100 * len(params.timed_out) / params.count
    expected = f"'{params.count} packets transmitted, {received} received, {loss:g}% packet loss'"
    seen = (output.sent, output.received, output.loss_percent)
    if output.sent is None or output.loss_percent is None:
        return Verdict(
            passed=False,
            summary="no summary line",
            expected=expected,
            received="no line of that form",
        )
    counts_right = seen[:2] == (params.count, received)
    if counts_only and counts_right:
        return None
    if not counts_right or abs(output.loss_percent - loss) > 0.05 + 1e-9:
        return Verdict(
            passed=False,
            summary="the summary line is wrong",
            expected=expected,
            received=f"{output.sent} transmitted, {output.received} received,"
            f" {output.loss_percent:g}% loss",
            cause="The counts are right, the percentage is not: loss is 100 * (transmitted -"
            " received) / transmitted, a percentage, not a fraction, and not cut down by int()."
            if counts_right
            else "Count each ping once: duplicates and late replies are not replies.",
        )
    return None


def rtt_line_problem(params: Params, output: PingOutput) -> Verdict | None:
    received = params.count - len(params.timed_out)
    if received and output.rtt is None:
        return Verdict(
            passed=False,
            summary="no 'rtt min/avg/max = ...' line",
            expected="'rtt min/avg/max = <min>/<avg>/<max> ms'",
            received="no such line",
        )
    if output.rtt is not None and not output.rtt[0] <= output.rtt[1] <= output.rtt[2]:
        return Verdict(passed=False, summary="rtt min/avg/max are not in order")
    return None


def rtt_floor_problem(params: Params, output: PingOutput) -> Verdict | None:
    """A failing verdict when a held reply shows too short a round-trip time, else None.

    An rtt that is the floor in seconds, printed as ms, is the unit's mistake, not another
    ping's reply: it fails only where `rtt_unit` is judged, so the mistake costs one check.
    """
    for floor in params.rtt_at_least:
        lines = output.for_seq(floor.seq)
        rtt_ms = lines[0].rtt_ms if lines else None
        if rtt_ms is None or rtt_ms >= floor.ms:
            continue
        if in_seconds(rtt_ms, floor.ms):
            if "rtt_unit" not in params.judges:
                continue
            return Verdict(
                passed=False,
                summary=f"seq={floor.seq}'s rtt is in seconds, printed as ms",
                expected=f"rtt of at least {floor.ms:g} ms (the relay held its reply that long)",
                received=f"rtt={rtt_ms:g} ms",
                cause="time.time() and time.monotonic() count seconds: multiply the difference"
                " by 1000 to print milliseconds.",
            )
        return Verdict(
            passed=False,
            summary=f"seq={floor.seq} was answered by another ping's reply",
            expected=f"rtt of at least {floor.ms:g} ms (the relay held its reply that long)",
            received=f"rtt={rtt_ms:g} ms",
            cause="Another ping's reply (a duplicate or a late one) arrived first and was"
            " taken for this one: check the seq in each reply and ignore the others.",
        )
    return None


def in_seconds(rtt_ms: float, floor_ms: float) -> bool:
    """Whether an rtt below its floor is that floor in seconds: at least the floor once
    multiplied by 1000, and not far above it (the grader's own delays are under a second)."""
    return floor_ms <= rtt_ms * 1000 <= floor_ms * 3 + 1000


STRAY_SLACK_S = 1.0
"""time_left: how much longer than a quiet wait (plus PING_TIMEOUT) a wait with strays may be."""


@dataclass(frozen=True)
class Wait:
    """How long the client waited for one ping's reply, as the relay saw it."""

    seq: int
    seconds: float
    """From the relay receiving ping `seq` to it receiving ping `seq + 1`."""
    strays: int
    """Copies of earlier replies the relay sent the client in that time (by their schedule)."""
    strays_near: bool = False
    """Whether copies were due in that time or PING_TIMEOUT before it: a relay held off the
    CPU sends what is due late, at once, so those may reach the client in this wait too."""


def waits(params: Params, relayed: tuple[RelayedDatagram, ...]) -> dict[int, Wait]:
    """The waits that the relay saw begin and end (ping `seq` to ping `seq + 1`), by seq.

    Times are the relay's (RelayedDatagram.at_s); a ping sent twice counts from its first copy.
    """
    sent: dict[int, float] = {}
    for d in relayed:
        match = REQUEST.match(d.payload)
        if d.direction == "to_server" and match and d.at_s is not None:
            sent.setdefault(int(match.group(1)), d.at_s)
    copies_at = [
        d.at_s + copy * d.interval_ms / 1000
        for d in relayed
        if d.direction == "to_client" and d.action == "duplicate" and d.at_s is not None
        for copy in range(1, d.copies + 1)
    ]
    found = {}
    for seq in range(1, params.count):
        if seq in sent and seq + 1 in sent:
            start, end = sent[seq], sent[seq + 1]
            strays = sum(1 for at in copies_at if start < at < end)
            near = any(start - params.timeout_s < at < end for at in copies_at)
            found[seq] = Wait(seq, end - start, strays, near)
    return found


def strays(count: int) -> str:
    return f"{count} stray cop{'y' if count == 1 else 'ies'}"


def time_left_problem(
    params: Params, output: PingOutput, relayed: tuple[RelayedDatagram, ...]
) -> Verdict | None:
    """A failing verdict when strays changed how long the client waited for a reply.

    Longer: the client's own wait for a reply that never came with nothing arriving (a seq in
    timed_out whose wait had no strays) is the yardstick, so a timeout merely too long is
    client-no-server's point; a timed-out wait with strays may exceed it by PING_TIMEOUT +
    STRAY_SLACK_S. Shorter: a ping whose reply did come (not in timed_out) that the client
    reported timed out, and gave up in less than half of PING_TIMEOUT (relay time), gave up at
    a stray; the strays the relay sent late, in a burst, count too, so the stray count of the
    wait is not required (taking the stray for the reply is client-late-reply's point).
    """
    found = waits(params, relayed)
    quiet = [
        found[seq].seconds for seq in params.timed_out if seq in found and not found[seq].strays
    ]
    allowed = min(quiet) + params.timeout_s + STRAY_SLACK_S if quiet else None
    for seq, wait in sorted(found.items()):
        if (
            wait.strays
            and seq in params.timed_out
            and allowed is not None
            and wait.seconds > allowed
        ):
            return Verdict(
                passed=False,
                summary=f"stray datagrams kept the client waiting {wait.seconds:.1f} s for"
                f" seq={seq}",
                expected=f"give seq={seq} up after PING_TIMEOUT = {params.timeout_s:g} s, as it"
                f" did with nothing arriving ({min(quiet):.1f} s)",
                received=f"ping {seq + 1} came {wait.seconds:.1f} s after ping {seq};"
                f" {strays(wait.strays)} of an earlier reply arrived in between",
                cause="Each stray datagram it ignored started a fresh PING_TIMEOUT: note the"
                " deadline once per ping (deadline = time.monotonic() + timeout) and after a"
                " stray wait only for what is left (sock.settimeout(deadline -"
                " time.monotonic())).",
            )
    for seq, wait in sorted(found.items()):
        lines = output.for_seq(seq)
        gave_up = lines and not any(line.replied for line in lines)
        if seq in params.timed_out or not gave_up or wait.seconds >= params.timeout_s / 2:
            continue
        during = f"; {strays(wait.strays)} of an earlier reply arrived in that time"
        return Verdict(
            passed=False,
            summary=f"the client gave seq={seq} up after {wait.seconds:.1f} s, before"
            f" PING_TIMEOUT = {params.timeout_s:g} s",
            expected=f"keep waiting for seq={seq}'s reply until PING_TIMEOUT has passed: the"
            " relay sent it in time",
            received=f"'Request timed out: seq={seq}', and ping {seq + 1} {wait.seconds:.1f} s"
            f" after ping {seq}" + (during if wait.strays else ""),
            cause=(
                "A datagram that is not the reply ends nothing: ignore it and wait for what is"
                " left of PING_TIMEOUT (sock.settimeout(deadline - time.monotonic()))."
                if wait.strays_near
                else "It waited less than PING_TIMEOUT: read it with"
                " float(os.environ.get('PING_TIMEOUT', '1.0')), and let only the reply or the"
                " timeout end the wait."
            ),
        )
    return None


def timing_problem(params: Params, elapsed_s: float | None) -> Verdict | None:
    if params.server or elapsed_s is None:
        return None
    budget = params.count * params.timeout_s
    if elapsed_s > budget * 1.5 + 2:
        return Verdict(
            passed=False,
            summary=f"with no server the client took {elapsed_s:.1f} s",
            expected=f"about PING_COUNT x PING_TIMEOUT = {params.count} x {params.timeout_s:g} s"
            f" = {budget:g} s",
            received=f"{elapsed_s:.1f} s",
            cause=f"The grader set PING_TIMEOUT={params.timeout_s:g}: read it with"
            " float(os.environ.get('PING_TIMEOUT', '1.0')). Wait PING_TIMEOUT once per ping,"
            " not longer and not again.",
        )
    return None


KIND = CheckKind(
    name="ping_client",
    description="The UDP pinger, through the grader's relay, reports every ping and a summary.",
    params=Params,
    scenario=scenario,
    judge=judge,
    needs=("client",),
)
