"""What the scenarios need of a backend: where programs run, typed once for both backends.

The Docker backend (grader.sandbox.containers.LabContext, Running) and the local backend
(grader.sandbox.local.LocalContext, LocalRunning) both give these; grader.scenarios.steps
is written against them, not against either backend.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from grader.sandbox.containers import ExitState
from grader.spec.model import Input


class Program(Protocol):
    """A started program (the student's, under run_bounded.py) or a grader helper."""

    def wait_exit(self, timeout_s: float) -> ExitState | None:
        """The exit state once it ends, or None while it still runs at `timeout_s` seconds."""
        ...

    def state(self) -> ExitState: ...

    def is_running(self) -> bool: ...

    def signal(self, name: str) -> None:
        """Sends the signal named `name` ("SIGTERM") to it."""
        ...

    def stop(self, grace_s: float = 1.0) -> None: ...

    def output(self, *, stdout: bool) -> bytes:
        """What it printed so far on stdout (or stderr): its records, READY and REPORT lines."""
        ...


class InputFiles(Protocol):
    """The bytes of the spec's inputs, as the backend keeps them."""

    def input_size_bytes(self, data: Input) -> int: ...


class Sandbox(Protocol):
    """Where one run's programs and helpers start."""

    @property
    def files(self) -> InputFiles: ...

    def student_program(
        self,
        submission: Path,
        file: str,
        env: dict[str, str],
        alias: str | None,
        role: str,
        stdin: Input | None = None,
        *,
        listen: tuple[str, float] | None = None,
        stop_grace_s: float | None = None,
    ) -> AbstractContextManager[Any]:
        """Runs `python3 FILE` of the staged `submission` with every limit (see LabContext)."""
        ...

    def helper(
        self,
        script: str,
        argument: str,
        role: str,
        *,
        alias: str | None = None,
        payload: Input | None = None,
        capabilities: tuple[str, ...] = (),
    ) -> AbstractContextManager[Any]:
        """Runs one of the grader's probes (`script` with its JSON `argument`)."""
        ...
