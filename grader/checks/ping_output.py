"""Reads a UDP pinger's output, line by line, against the lab 03 contract."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Numbers have at most 9 digits before the point and 9 after: a longer one is no number the
# contract asks for, so its line is unreadable, and int() and float() never see a string too
# long for them (Python refuses int() of more than 4300 digits).
N = r"\d{1,9}"
R = r"\d{1,9}(?:\.\d{1,9})?"
REPLY = re.compile(
    rf"^Reply from (?P<host>\S+): seq=(?P<seq>{N}) rtt=(?P<rtt>{N}(?:\.\d{{1,3}})?) ms$"
)
TIMEOUT = re.compile(rf"^Request timed out: seq=(?P<seq>{N})$")
SUMMARY = re.compile(
    rf"^(?P<sent>{N}) packets transmitted, (?P<received>{N}) received,"
    rf" (?P<loss>{N}(?:\.\d)?)% packet loss$"
)
RTT = re.compile(rf"^rtt min/avg/max = (?P<min>{R})/(?P<avg>{R})/(?P<max>{R}) ms$")


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
