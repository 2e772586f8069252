"""What a check kind is, and the verdict it returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from grader.scenarios.model import Observation, Scenario
from grader.spec.model import LabSpec, spec_dataclass

P = TypeVar("P")


@dataclass(frozen=True)
class Verdict:
    """A check's judgement of an observation, in words a student can act on."""

    passed: bool
    summary: str
    expected: str | None = None
    received: str | None = None
    cause: str | None = None
    details: tuple[str, ...] = ()
    diagram: tuple[str, ...] = ()
    """A ladder diagram of the captured packets, shown on failure or when asked for."""


def passed(summary: str) -> Verdict:
    return Verdict(passed=True, summary=summary)


@spec_dataclass
class NoParams:
    """For check kinds that take no parameters beyond id, title, kind and points."""


@dataclass(frozen=True)
class CheckKind(Generic[P]):
    """One kind of check: its parameters, the scenario it needs, and how it judges."""

    name: str
    description: str
    params: type[P]
    scenario: Callable[[P], Scenario]
    judge: Callable[[P, Any, LabSpec], Verdict]
    needs: tuple[str, ...] | Callable[[P], tuple[str, ...]]
    """Which services ("server", "client") the spec must declare for this kind."""
    captures: bool | Callable[[P], bool] = False
    """Whether it looks at a packet capture of its scenario (then the capture is kept)."""
    judges_packets: bool = False
    """Its verdict is read from the capture (not only explained by it): where no packets can
    be captured (the local backend without root) it cannot judge at all."""
    server_protocol: str | Callable[[P], str | None] | None = None
    """The protocol ("tcp", "udp") the spec's server must use for this kind; None: either."""

    def services_needed(self, params: object) -> tuple[str, ...]:
        return self.needs(params) if callable(self.needs) else self.needs  # type: ignore[arg-type]

    def protocol_needed(self, params: object) -> str | None:
        """The protocol the server must use for this check, or None when either will do."""
        if callable(self.server_protocol):
            return self.server_protocol(params)  # type: ignore[arg-type]
        return self.server_protocol

    def uses_capture(self, params: object) -> bool:
        return self.captures(params) if callable(self.captures) else self.captures  # type: ignore[arg-type]

    def verdict(self, params: object, observation: Observation, lab: LabSpec) -> Verdict:
        # Imported here: diagnosis builds on this module's Verdict.
        from grader.checks.diagnosis import crash_first, with_reuse_note

        # Crash evidence comes first: a failure of a program that crashed names the crash.
        judged = crash_first(self.judge(params, observation, lab), observation, lab)  # type: ignore[arg-type]
        return with_reuse_note(judged, observation)
