"""Reads a UDP pinger's output, line by line, against the lab 03 contract."""

from __future__ import annotations

import re
from dataclasses import dataclass

REPLY = re.compile(r"^Reply from (?P<host>\S+): seq=(?P<seq>\d+) rtt=(?P<rtt>\d+(\.\d{1,3})?) ms$")
TIMEOUT = re.compile(r"^Request timed out: seq=(?P<seq>\d+)$")
SUMMARY = re.compile(
    r"^(?P<sent>\d+) packets transmitted, (?P<received>\d+) received,"
    r" (?P<loss>\d+(\.\d)?)% packet loss$"
)
RTT = re.compile(
    r"^rtt min/avg/max = (?P<min>\d+(\.\d+)?)/(?P<avg>\d+(\.\d+)?)/(?P<max>\d+(\.\d+)?) ms$"
)


@dataclass(frozen=True)
class PingLine:
    seq: int
    replied: bool
    rtt_ms: float | None


@dataclass(frozen=True)
class PingOutput:
    results: tuple[PingLine, ...]
    sent: int | None
    received: int | None
    loss_percent: float | None
    rtt: tuple[float, float, float] | None
    unreadable: tuple[str, ...]
    """Non-empty lines that match no line of the contract."""

    def for_seq(self, seq: int) -> tuple[PingLine, ...]:
        return tuple(line for line in self.results if line.seq == seq)


def parse(text: str) -> PingOutput:
    results: list[PingLine] = []
    unreadable: list[str] = []
    sent = received = None
    loss = None
    rtt = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if match := REPLY.match(line):
            results.append(PingLine(int(match["seq"]), True, float(match["rtt"])))
        elif match := TIMEOUT.match(line):
            results.append(PingLine(int(match["seq"]), False, None))
        elif match := SUMMARY.match(line):
            sent, received = int(match["sent"]), int(match["received"])
            loss = float(match["loss"])
        elif match := RTT.match(line):
            rtt = (float(match["min"]), float(match["avg"]), float(match["max"]))
        else:
            unreadable.append(line)
    return PingOutput(tuple(results), sent, received, loss, rtt, tuple(unreadable))
