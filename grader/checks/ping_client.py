"""ping_client: the student's UDP pinger, through the grader's relay, reports what happened.

The relay drops, duplicates or delays replies as the spec says, the same way every run; the
check reads the pinger's output line by line and compares it with what the relay did.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from grader.checks.base import CheckKind, Verdict, passed
from grader.checks.diagnosis import program_problem, shorten, stderr_tail, still_running
from grader.checks.ping_output import PingOutput, parse
from grader.scenarios.model import PingSession, PingSessionObservation, RelayedDatagram
from grader.spec.model import Impairment, LabSpec, doc

REQUEST = re.compile(rb"^PING (\d+) \d+(\.\d+)?$")


@dataclass(frozen=True)
class RttFloor:
    seq: int = field(metadata=doc("The ping whose round-trip time is checked."))
    ms: float = field(metadata=doc("It must be at least this (the relay held the reply)."))


@dataclass(frozen=True)
class Params:
    count: int = field(default=10, metadata=doc("PING_COUNT given to the client."))
    timeout_s: float = field(default=1.0, metadata=doc("PING_TIMEOUT given to the client."))
    impairment: Impairment = field(
        default_factory=Impairment, metadata=doc("What the relay does to the traffic.")
    )
    server: bool = field(default=True, metadata=doc("False: nothing answers at SERVER_HOST."))
    timed_out: tuple[int, ...] = field(
        default=(), metadata=doc("The pings that must time out; every other one gets a reply.")
    )
    rtt_at_least: tuple[RttFloor, ...] = field(
        default=(), metadata=doc("Round-trip times that must be at least so long.")
    )


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
    if client.timed_out:
        return replace(
            still_running(client, lab),
            cause="With UDP a reply may never come: give recvfrom() a deadline with"
            " sock.settimeout(...) and print 'Request timed out' when it passes.",
            details=(*relayed, *output_lines(client.stdout_text)),
        )
    context = (*relayed, *output_lines(client.stdout_text), *stderr_tail(client))
    output = parse(client.stdout_text)
    verdict = (
        requests_problem(seen.relayed)
        or lines_problem(params, output)
        or summary_problem(params, output)
        or rtt_problem(params, output)
        or timing_problem(params, client.elapsed_s)
    )
    if verdict is not None:
        return Verdict(
            passed=False,
            summary=verdict.summary,
            expected=verdict.expected,
            received=verdict.received,
            cause=verdict.cause,
            details=context,
        )
    if client.exit_code != 0:
        return Verdict(
            passed=False,
            summary=f"the client exited with status {client.exit_code}",
            expected="status 0, also when pings are lost",
            received=f"status {client.exit_code}",
            details=context,
        )
    lost = len(params.timed_out)
    return passed(f"{params.count} pings, {lost} timed out as they should, summary right")


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


def lines_problem(params: Params, output: PingOutput) -> Verdict | None:
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
            return Verdict(
                passed=False,
                summary=f"seq={seq} should {'time out' if should_time_out else 'get a reply'}",
                expected=expected,
                received="a reply" if lines[0].replied else "a timeout",
                cause="Its reply was dropped or came too late: wait at most PING_TIMEOUT"
                " (settimeout), then move on."
                if should_time_out
                else "Wait up to PING_TIMEOUT for the reply, ignoring datagrams for other seqs.",
            )
    return None


def summary_problem(params: Params, output: PingOutput) -> Verdict | None:
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
    if seen[:2] != (params.count, received) or abs(output.loss_percent - loss) > 0.05 + 1e-9:
        return Verdict(
            passed=False,
            summary="the summary line is wrong",
            expected=expected,
            received=f"{output.sent} transmitted, {output.received} received,"
            f" {output.loss_percent:g}% loss",
            cause="Count each ping once: duplicates and late replies are not replies.",
        )
    return None


def rtt_problem(params: Params, output: PingOutput) -> Verdict | None:
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
    for floor in params.rtt_at_least:
        lines = output.for_seq(floor.seq)
        if lines and lines[0].rtt_ms is not None and lines[0].rtt_ms < floor.ms:
            return Verdict(
                passed=False,
                summary=f"seq={floor.seq} was answered by another ping's reply",
                expected=f"rtt of at least {floor.ms:g} ms (the relay held its reply that long)",
                received=f"rtt={lines[0].rtt_ms:g} ms",
                cause="A late reply to an earlier ping arrived first and was taken for this one:"
                " check the seq in each reply and ignore the others.",
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
            expected=f"about PING_COUNT x PING_TIMEOUT = {budget:g} s",
            received=f"{elapsed_s:.1f} s",
            cause="Wait PING_TIMEOUT once per ping, not longer and not again.",
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
