"""The frozen, typed shape of a lab's spec.yaml; nothing here reads files."""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, dataclass_transform

import pydantic
from pydantic import ConfigDict, Field, WithJsonSchema, field_validator, model_validator

SPEC_CONFIG = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)
"""Spec values are taken as written: no text read as a number, no number read as true, and
no infinite or NaN number (.inf, .nan) anywhere."""

T = TypeVar("T")


@dataclass_transform(frozen_default=True, field_specifiers=(Field,))
def spec_dataclass(cls: type[T]) -> type[T]:
    """A frozen dataclass that pydantic validates: a part of spec.yaml, or a check's parameters.

    Each field is a `Field(default=..., description=...)`: the description (meaning and unit)
    goes into the JSON Schema editors show, and the loader's errors name the field.
    """
    return pydantic.dataclasses.dataclass(frozen=True, config=SPEC_CONFIG)(cls)  # type: ignore[return-value]


Payload = Annotated[
    bytes,
    WithJsonSchema({"type": "string", "description": "Bytes, written as UTF-8 text."}),
]
"""Bytes written in YAML as text (UTF-8; YAML escapes such as "\\n" work)."""

FILE_NAME = r"^([^/.][^/]*|\.[^/.][^/]*|\.\.[^/]+)$"
"""A plain file name: no folder, not `.` or `..` (the regex dialect of JSON Schema and
pydantic alike, which has no look-ahead)."""
NON_BLANK = r"\S"
"""Text with something other than white space in it (JSON Schema patterns search)."""
GRADING_PORT_MAX = 32767
"""Below Linux's default ephemeral range (net.ipv4.ip_local_port_range 32768-60999)."""

Port = Annotated[int, Field(ge=1024, le=65535)]

UDP_PAYLOAD_MAX = 65507
"""The most bytes one UDP datagram over IPv4 can carry (65535 - 20 - 8)."""
INPUT_BYTES_MAX = 64 * 1024 * 1024
"""The most bytes a spec may ask to be generated for one input (64 MiB)."""


@spec_dataclass
class ServiceSpec:
    """One student program: its file, and the port it serves or reaches."""

    file: str = Field(
        pattern=FILE_NAME,
        description="The student's program: a file name in the submission's folder.",
    )
    port: Port | None = Field(
        default=None,
        description="The port the lab's README promises students, 1024 to 65535. A server"
        " needs one.",
    )
    # Inside a container, Linux takes local ports for outgoing connections, and Docker's
    # embedded DNS its listening ports, from 32768-60999: a grading port there can be taken
    # already, by chance, and a correct server would fail to bind.
    grading_port: Annotated[int, Field(ge=1024, le=GRADING_PORT_MAX)] | None = Field(
        default=None,
        description="The port the grader passes in SERVER_PORT, 1024 to 32767 (below the"
        " ephemeral ports, which a container's own connections may hold). It differs from"
        " `port` so that a hard-coded port is caught. Default: `port`.",
    )
    protocol: Literal["tcp", "udp"] = Field(default="tcp", description="Transport protocol.")
    serves_forever: bool = Field(
        default=False,
        description="The server never exits by itself: the grader stops it with SIGTERM.",
    )

    @model_validator(mode="after")
    def _grading_port_is_usable(self) -> ServiceSpec:
        if self.grading_port is not None and self.grading_port == self.port:
            raise ValueError(
                "grading_port must differ from port, or a server that hard-codes the README's"
                " port would pass"
            )
        if self.grading_port is None and self.port is not None and self.port > GRADING_PORT_MAX:
            raise ValueError(
                f"give a grading_port from 1024 to {GRADING_PORT_MAX}: without one the grader"
                f" would use port {self.port}, among the ephemeral ports a container's own"
                " connections may hold"
            )
        return self


@spec_dataclass
class Services:
    """The student's programs the lab grades."""

    server: ServiceSpec | None = Field(default=None, description="The student's server.")
    client: ServiceSpec | None = Field(default=None, description="The student's client.")


@spec_dataclass
class Timeouts:
    """How long the grader waits, in seconds; each must be greater than zero."""

    start_s: float = Field(
        default=10.0, gt=0, description="Seconds a server may take to reach LISTEN."
    )
    run_s: float = Field(
        default=20.0, gt=0, description="Wall-clock seconds one program run may take in a check."
    )
    exit_s: float = Field(
        default=5.0, gt=0, description="Seconds a server may take to exit once its work is done."
    )


@spec_dataclass
class Limits:
    """What one student program may use; each must be greater than zero."""

    memory_mb: int = Field(default=64, gt=0, description="Memory limit per program, in MiB.")
    cpus: float = Field(default=0.5, gt=0, description="CPU share per program, in cores.")
    pids: int = Field(default=64, gt=0, description="Process and thread limit per program.")
    output_kb: int = Field(
        default=64, gt=0, description="KiB of stdout, and of stderr, the grader keeps."
    )


@spec_dataclass
class Input:
    """Bytes made from the spec, in this order: text, every byte value, seeded random bytes."""

    text: Payload = Field(default=b"", description="Text (UTF-8) first.")
    all_byte_values: bool = Field(
        default=False, description="Then the 256 byte values 0 to 255, in order."
    )
    random_bytes: int = Field(default=0, ge=0, description="Then this many seeded random bytes.")
    random_text: int = Field(
        default=0,
        ge=0,
        description="Then this many seeded random letters, digits and spaces: a size that any"
        " decode()"
        " accepts, for a check whose point is the size, not the byte values.",
    )
    seed: int = Field(
        default=0,
        description="Seed for random_bytes and random_text: the same bytes on every run.",
    )

    @model_validator(mode="after")
    def _not_too_big(self) -> Input:
        if self.size_bytes > INPUT_BYTES_MAX:
            raise ValueError(
                f"makes {self.size_bytes} bytes, more than the {INPUT_BYTES_MAX} an input may have"
            )
        return self

    @property
    def size_bytes(self) -> int:
        """How many bytes build() makes, without making them."""
        return (
            len(self.text)
            + (256 if self.all_byte_values else 0)
            + self.random_bytes
            + self.random_text
        )

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


@spec_dataclass
class ReferenceClient:
    """What the grader's instrumented client does against the student's server."""

    send: Input = Field(default_factory=Input, description="Bytes sent after connecting.")
    chunk_bytes: int = Field(
        default=0, ge=0, description="Send in pieces of this size (0: all at once with sendall)."
    )
    pause_ms: int = Field(default=0, ge=0, description="Pause between two pieces, in milliseconds.")
    half_close: bool = Field(default=False, description="Shut down the sending side after sending.")
    read_timeout_s: float = Field(
        default=5.0, gt=0, description="Seconds to wait for the server to close the connection."
    )
    connections: int = Field(
        default=1, ge=1, description="How many clients connect, one after another."
    )
    reset_first: bool = Field(
        default=False,
        description="Before them, one client sends part of the data and resets (RST).",
    )


@spec_dataclass
class ReferenceServer:
    """What the grader's instrumented server does for the student's client."""

    send: tuple[Payload, ...] = Field(
        default=(), description="Pieces sent to the client, in order, one send each."
    )
    pause_ms: int = Field(default=0, ge=0, description="Pause between two pieces, in milliseconds.")
    echo: bool = Field(
        default=False,
        description="Instead of sending pieces, echo what the client sends until it half-closes.",
    )


@spec_dataclass
class ReferenceUdpClient:
    """What the grader's UDP client sends to the student's UDP server."""

    send: tuple[Input, ...] = Field(
        default=(Input(text=b"ping"),),
        description="Datagrams sent in order, one each.",
    )
    clients: int = Field(
        default=1,
        ge=1,
        description="Clients, each with its own socket, sending in turn (interleaved).",
    )
    pause_ms: int = Field(
        default=0,
        ge=0,
        description="Milliseconds between two datagrams; 0 sends them back to back.",
    )
    reply_timeout_s: float = Field(
        default=3.0, gt=0, description="Seconds to wait for the replies after the last send."
    )

    @field_validator("send")
    @classmethod
    def _datagrams_fit(cls, send: tuple[Input, ...]) -> tuple[Input, ...]:
        for number, datagram in enumerate(send, start=1):
            if datagram.size_bytes > UDP_PAYLOAD_MAX:
                raise ValueError(
                    f"datagram {number} would be {datagram.size_bytes} bytes; one UDP datagram"
                    f" carries at most {UDP_PAYLOAD_MAX}"
                )
        return send


@spec_dataclass
class ImpairmentRule:
    """One impairment for the datagram with this index (from 1) or whose payload matches."""

    action: Literal["drop", "duplicate", "delay", "reorder"] = Field(
        description="What the relay does with the datagram."
    )
    index: int | None = Field(
        default=None, ge=1, description="The datagram's number in its direction, from 1."
    )
    match: str | None = Field(
        default=None,
        description="A Python regular expression searched in the payload (its bytes read as"
        " Latin-1). A rule with neither index nor match applies to every datagram.",
    )
    delay_ms: int = Field(
        default=0, ge=0, description="With action delay: how long to hold it, in milliseconds."
    )
    copies: int = Field(
        default=1, ge=1, description="With action duplicate: how many copies follow the datagram."
    )
    interval_ms: int = Field(
        default=0,
        ge=0,
        description="With action duplicate: the time between two copies; 0 sends them right after"
        " it.",
    )

    @field_validator("match")
    @classmethod
    def _match_compiles(cls, match: str | None) -> str | None:
        if match is not None:
            try:
                re.compile(match)
            except re.error as e:
                raise ValueError(f"not a valid regular expression: {e}") from e
        return match

    @model_validator(mode="before")
    @classmethod
    def _keys_of_its_action(cls, data: Any) -> Any:
        action = data.get("action") if isinstance(data, dict) else None
        if not isinstance(action, str):
            return data  # the action's own error says what is wrong
        wrong = sorted(
            key for key, owner in KEYS_OF_ACTION.items() if key in data and owner != action
        )
        if wrong:
            owner = KEYS_OF_ACTION[wrong[0]]
            raise ValueError(f"{', '.join(wrong)} only apply to action {owner}, not {action}")
        return data

    @model_validator(mode="after")
    def _delay_holds(self) -> ImpairmentRule:
        if self.action == "delay" and self.delay_ms == 0:
            raise ValueError("action delay needs delay_ms, greater than zero")
        return self


KEYS_OF_ACTION = {"delay_ms": "delay", "copies": "duplicate", "interval_ms": "duplicate"}
"""An impairment rule's keys that mean something for one action only."""


@spec_dataclass
class DirectionImpairment:
    """What the relay does to the datagrams going one way."""

    rules: tuple[ImpairmentRule, ...] = Field(
        default=(), description="Rules in order; the first that applies decides."
    )
    loss_percent: float = Field(
        default=0.0,
        ge=0,
        le=100,
        description="Drop this percentage of the rest, drawn from the seed.",
    )


@spec_dataclass
class Impairment:
    """What the grader's UDP relay does to traffic, per direction; the same on every run."""

    seed: int = Field(default=0, description="Seed for loss_percent: the same losses every run.")
    to_server: DirectionImpairment = Field(
        default_factory=DirectionImpairment, description="Datagrams from the client."
    )
    to_client: DirectionImpairment = Field(
        default_factory=DirectionImpairment, description="Datagrams from the server."
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
