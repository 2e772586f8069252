"""The frozen, typed shape of a lab's spec.yaml; nothing here reads files."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NewType

Payload = NewType("Payload", bytes)
"""Bytes written in YAML as a string (UTF-8; YAML escapes such as "\\n" work)."""


def doc(text: str) -> dict[str, str]:
    """Field metadata that carries a description into the JSON Schema."""
    return {"doc": text}


@dataclass(frozen=True)
class ServiceSpec:
    file: str = field(metadata=doc("The student's program, relative to the submission."))
    port: int | None = field(
        default=None, metadata=doc("The default port the lab's README promises students.")
    )
    grading_port: int | None = field(
        default=None,
        metadata=doc(
            "The port the grader passes in SERVER_PORT; differs from `port` so that a"
            " hard-coded port is caught."
        ),
    )
    protocol: Literal["tcp", "udp"] = field(default="tcp", metadata=doc("Transport protocol."))
    serves_forever: bool = field(
        default=False,
        metadata=doc("The server never exits by itself: the grader stops it with SIGTERM."),
    )


@dataclass(frozen=True)
class Services:
    server: ServiceSpec | None = field(default=None, metadata=doc("The student's server."))
    client: ServiceSpec | None = field(default=None, metadata=doc("The student's client."))


@dataclass(frozen=True)
class Timeouts:
    start_s: float = field(
        default=10.0, metadata=doc("How long a server may take to reach LISTEN.")
    )
    run_s: float = field(
        default=20.0, metadata=doc("Wall-clock limit for one program run within a check.")
    )
    exit_s: float = field(
        default=5.0, metadata=doc("How long a server may take to exit once its work is done.")
    )


@dataclass(frozen=True)
class Limits:
    memory_mb: int = field(default=64, metadata=doc("Memory limit per student container."))
    cpus: float = field(default=0.5, metadata=doc("CPU share per student container."))
    pids: int = field(default=64, metadata=doc("Process and thread limit per container."))
    output_kb: int = field(
        default=64, metadata=doc("How much of stdout and of stderr the grader keeps.")
    )


@dataclass(frozen=True)
class Input:
    """Bytes made from the spec, in this order: text, every byte value, seeded random bytes."""

    text: Payload = field(default=Payload(b""), metadata=doc("Text (UTF-8) first."))
    all_byte_values: bool = field(
        default=False, metadata=doc("Then the 256 byte values 0 to 255, in order.")
    )
    random_bytes: int = field(default=0, metadata=doc("Then this many seeded random bytes."))
    random_text: int = field(
        default=0,
        metadata=doc(
            "Then this many seeded random letters, digits and spaces: a size that any decode()"
            " accepts, for a check whose point is the size, not the byte values."
        ),
    )
    seed: int = field(default=0, metadata=doc("Seed for the random bytes: same bytes every run."))

    def digest(self) -> str:
        """A short name for these bytes, from the recipe (no need to build them)."""
        recipe = f"{self.text!r}|{self.all_byte_values}|{self.random_bytes}|{self.seed}" + (
            f"|{self.random_text}" if self.random_text else ""
        )
        return hashlib.sha256(recipe.encode()).hexdigest()[:16]

    def build(self) -> bytes:
        data = bytes(self.text)
        if self.all_byte_values:
            data += bytes(range(256))
        if self.random_bytes:
            data += random.Random(self.seed).randbytes(self.random_bytes)
        if self.random_text:
            letters = TEXT_ALPHABET
            rng = random.Random(self.seed)
            data += bytes(rng.choice(letters) for _ in range(self.random_text))
        return data


TEXT_ALPHABET = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "


@dataclass(frozen=True)
class ReferenceClient:
    """What the grader's instrumented client does against the student's server."""

    send: Input = field(default_factory=Input, metadata=doc("Bytes sent after connecting."))
    chunk_bytes: int = field(
        default=0, metadata=doc("Send in pieces of this size (0: all at once with sendall).")
    )
    pause_ms: int = field(default=0, metadata=doc("Pause between two pieces, in milliseconds."))
    half_close: bool = field(
        default=False, metadata=doc("Shut down the sending side after sending.")
    )
    read_timeout_s: float = field(
        default=5.0, metadata=doc("How long to wait for the server to close the connection.")
    )
    connections: int = field(
        default=1, metadata=doc("How many clients connect, one after another.")
    )
    reset_first: bool = field(
        default=False,
        metadata=doc("Before them, one client sends part of the data and resets (RST)."),
    )


@dataclass(frozen=True)
class ReferenceServer:
    """What the grader's instrumented server does for the student's client."""

    send: tuple[Payload, ...] = field(
        default=(), metadata=doc("Pieces sent to the client, in order, one send each.")
    )
    pause_ms: int = field(default=0, metadata=doc("Pause between two pieces, in milliseconds."))
    echo: bool = field(
        default=False,
        metadata=doc("Instead of sending pieces, echo what the client sends until it half-closes."),
    )


@dataclass(frozen=True)
class ReferenceUdpClient:
    """What the grader's UDP client sends to the student's UDP server."""

    send: tuple[Input, ...] = field(
        default=(Input(text=Payload(b"ping")),),
        metadata=doc("Datagrams sent in order, one each."),
    )
    clients: int = field(
        default=1,
        metadata=doc("Clients, each with its own socket, sending in turn (interleaved)."),
    )
    pause_ms: int = field(
        default=0, metadata=doc("Pause between two datagrams; 0 sends them back to back.")
    )
    reply_timeout_s: float = field(
        default=3.0, metadata=doc("How long to wait for the replies after the last send.")
    )


@dataclass(frozen=True)
class ImpairmentRule:
    """One impairment for the datagram with this index (from 1) or whose payload matches."""

    action: Literal["drop", "duplicate", "delay", "reorder"] = field(
        metadata=doc("What the relay does with the datagram.")
    )
    index: int | None = field(
        default=None, metadata=doc("The datagram's number in its direction, from 1.")
    )
    match: str | None = field(
        default=None, metadata=doc("A regular expression searched in the payload.")
    )
    delay_ms: int = field(default=0, metadata=doc("With action delay: how long to hold it."))
    copies: int = field(
        default=1, metadata=doc("With action duplicate: how many copies follow the datagram.")
    )
    interval_ms: int = field(
        default=0,
        metadata=doc(
            "With action duplicate: the time between two copies; 0 sends them right after it."
        ),
    )


@dataclass(frozen=True)
class DirectionImpairment:
    rules: tuple[ImpairmentRule, ...] = field(
        default=(), metadata=doc("Rules in order; the first that applies decides.")
    )
    loss_percent: float = field(
        default=0.0, metadata=doc("Drop this share of the rest, drawn from the seed.")
    )


@dataclass(frozen=True)
class Impairment:
    """What the grader's UDP relay does to traffic, per direction; the same on every run."""

    seed: int = field(default=0, metadata=doc("Seed for loss_percent."))
    to_server: DirectionImpairment = field(
        default_factory=DirectionImpairment, metadata=doc("Datagrams from the client.")
    )
    to_client: DirectionImpairment = field(
        default_factory=DirectionImpairment, metadata=doc("Datagrams from the server.")
    )

    def as_plan(self) -> dict[str, object]:
        """The plan in the form the relay reads (grader/probes/impairment.py)."""

        def direction(d: DirectionImpairment) -> dict[str, object]:
            rules = [
                {
                    "action": r.action,
                    "index": r.index,
                    "match": r.match,
                    "delay_ms": r.delay_ms,
                    "copies": r.copies,
                    "interval_ms": r.interval_ms,
                }
                for r in d.rules
            ]
            return {"rules": rules, "loss_percent": d.loss_percent}

        return {
            "seed": self.seed,
            "to_server": direction(self.to_server),
            "to_client": direction(self.to_client),
        }


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str
    kind: str
    points: float
    params: object
    hidden: bool = False
    feedback: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class LabSpec:
    id: str
    title: str
    path: Path
    services: Services
    timeouts: Timeouts
    limits: Limits
    checks: tuple[CheckSpec, ...]
    hidden_checks_path: Path | None = None
    """The hidden-checks file whose checks were added (load_spec's `hidden_checks`)."""

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def max_points(self) -> float:
        return sum(check.points for check in self.checks)
