"""A long-lived container whose programs run one after another by `docker exec`.

The student's hosts (student_host.StudentHost), the peers named `server`
(peer_host.ServerPeerHost), the reference clients (peer_host.PeerHost) and the captures
(capture.CaptureHost) each start one idle container and run each scenario's program in it.
They share what this module gives: started on entry, removed on exit or by `discard` (and
never used again), and taken for a new run only while young enough that the run ends before
the container's idle command does.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from grader.sandbox.containers import INPUT_MOUNT, LabContext, Running
from grader.sandbox.exec_run import ExecRun
from grader.sandbox.volumes import INPUT_FILE
from grader.spec.model import Input

REUSE_SHARE = 0.5
"""A host takes a new run only while more than this share of its idle command's time is left."""
TOOL_ENV = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}
"""The environment of the grader's own Python programs run by exec."""


class ExecHost:
    """One idle container for execs; a context manager.

    `starting` is the context manager that starts the container and removes it on exit
    (containers.started, LabContext.tool); `idle_s` is how long its idle command runs, in
    seconds. A subclass that owns more containers removes them in `_discarded`.
    """

    def __init__(self, context: LabContext, starting: Any, idle_s: float) -> None:
        self.context = context
        self.idle_s = idle_s
        self.discarded = False
        self.running: Running | None = None
        self._starting = starting
        self._since = 0.0

    def __enter__(self) -> Any:
        # Any, not ExecHost: each subclass's `with` gives the subclass.
        self.running = self._starting.__enter__()
        self._since = time.monotonic()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.discard()

    def discard(self) -> None:
        """Removes the container now; it is not used again."""
        if self.running is not None and not self.discarded:
            self.discarded = True
            self._starting.__exit__(None, None, None)
            self._discarded()

    def _discarded(self) -> None:
        """Called once, after the container is removed."""

    def usable(self) -> bool:
        """Whether a new run may use this host: running, with enough of its time left."""
        if self.discarded or self.running is None:
            return False
        if time.monotonic() - self._since > self.idle_s * REUSE_SHARE:
            return False
        return bool(self.running.is_running())

    def exec(self, argv: list[str], output_limit_bytes: int = 1 << 20) -> ExecRun:
        """`argv` by exec here, with TOOL_ENV, as an ExecRun whose `owner` is this host.

        Raises InfrastructureError when the engine refuses the exec.
        """
        assert self.running is not None, "use the host as a context manager"
        run = ExecRun(
            self.context.client, self.running.container, argv, output_limit_bytes, env=TOOL_ENV
        )
        run.owner = self
        return run


def mount_inputs(
    context: LabContext, inputs: tuple[Input, ...], volumes: dict[str, dict[str, str]]
) -> dict[str, str]:
    """Adds a read-only mount of each input's volume to `volumes` (the Docker SDK's form).

    Returns where each input's bytes are inside the container, by Input.digest().
    """
    paths: dict[str, str] = {}
    for number, data in enumerate(inputs, start=1):
        folder = f"{INPUT_MOUNT}/{number}"
        volumes[context.files.input(data)] = {"bind": folder, "mode": "ro"}
        paths[data.digest()] = f"{folder}/{INPUT_FILE}"
    return paths
