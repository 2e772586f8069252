"""Decides, deterministically, what the relay does with each datagram.

Pure logic, standard library only: the relay imports it inside its container and the tests
import it directly. The same plan, direction, index and payload always give the same
decision; loss is drawn from a hash of (seed, direction, index), never from the clock.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

ACTIONS = ("drop", "duplicate", "delay", "reorder")
DIRECTIONS = ("to_server", "to_client")


@dataclass(frozen=True)
class Rule:
    """One impairment: for the datagram with this index (from 1), or whose payload matches."""

    action: str
    index: int | None = None
    match: str | None = None
    delay_ms: int = 0
    copies: int = 1
    """With duplicate: how many copies follow the datagram."""
    interval_ms: int = 0
    """With duplicate: the time between two copies (the first follows the datagram by it)."""

    def applies(self, index: int, payload: bytes) -> bool:
        if self.index is not None and self.index != index:
            return False
        return self.match is None or re.search(self.match, payload.decode("latin-1")) is not None


@dataclass(frozen=True)
class DirectionPlan:
    rules: tuple[Rule, ...] = ()
    loss_percent: float = 0.0


@dataclass(frozen=True)
class Plan:
    seed: int = 0
    to_server: DirectionPlan = field(default_factory=DirectionPlan)
    to_client: DirectionPlan = field(default_factory=DirectionPlan)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        def direction(raw: dict[str, Any]) -> DirectionPlan:
            return DirectionPlan(
                rules=tuple(Rule(**rule) for rule in raw.get("rules", ())),
                loss_percent=float(raw.get("loss_percent", 0.0)),
            )

        return cls(
            seed=int(data.get("seed", 0)),
            to_server=direction(data.get("to_server", {})),
            to_client=direction(data.get("to_client", {})),
        )


@dataclass(frozen=True)
class Decision:
    action: str
    """forward, drop, duplicate, delay or reorder."""
    delay_ms: int = 0
    reason: str = ""
    copies: int = 1
    """With duplicate: the copies sent after the datagram itself, at least one."""
    interval_ms: int = 0


def lost(seed: int, direction: str, index: int, loss_percent: float) -> bool:
    """A seeded coin: whether datagram `index` in `direction` falls in the loss percentage."""
    digest = hashlib.sha256(f"{seed}:{direction}:{index}".encode()).digest()
    draw = int.from_bytes(digest[:8], "big") / 2**64
    return draw * 100 < loss_percent


def decide(plan: Plan, direction: str, index: int, payload: bytes) -> Decision:
    rules = plan.to_server if direction == "to_server" else plan.to_client
    for rule in rules.rules:
        if rule.applies(index, payload):
            what = f"index {rule.index}" if rule.index is not None else f"match {rule.match!r}"
            return Decision(
                rule.action,
                rule.delay_ms,
                reason=f"rule: {what}",
                copies=max(1, rule.copies),
                interval_ms=rule.interval_ms,
            )
    if rules.loss_percent and lost(plan.seed, direction, index, rules.loss_percent):
        return Decision("drop", reason=f"{rules.loss_percent:g}% loss, seed {plan.seed}")
    return Decision("forward")
