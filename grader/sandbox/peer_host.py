"""One grader container per run that runs the grader's reference clients, one after another.

A reference client (a TCP or UDP client of grader/probes/peer.py) needs no name on the lab
network and no capability, and it runs to completion: it used to get a container of its
own for every server scenario (8 of lab 02's, 8 of lab 03's). The run now starts one such
container, idle under coreutils `timeout` like every helper, and runs each client in it with
`docker exec`, at a fraction of a container start.

It mounts the probes and every input the lab's checks name (a payload to send), each at a
path of its own. Nothing of a student's program runs in it. Each client is a fresh process
with fresh sockets: what one scenario's client saw cannot reach the next one's report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import docker.errors

from grader import interrupts
from grader.errors import InfrastructureError
from grader.sandbox.containers import (
    INPUT_MOUNT,
    PROBES_MOUNT,
    LabContext,
    Running,
    bounded_command,
    container_lifetime_s,
)
from grader.sandbox.volumes import INPUT_FILE
from grader.spec.model import Input

ROLE = "reference-clients"
LONGEST_RUN_S = 90.0
"""The longest client run done by exec: the engine's API client gives up on a silent
response after 120 s (engine.connect), and a client prints only at its end; a client with a
longer deadline gets a container of its own, as before."""


@dataclass(frozen=True)
class ExecResult:
    exit_code: int | None
    stdout: bytes
    stderr: bytes


class PeerHost:
    """The run's container for reference clients; a context manager that removes it.

    Started on entry, on the lab network with no alias. `inputs` are the payloads it mounts
    (see `payload_path`). Raises InfrastructureError when the engine refuses to start it.
    """

    def __init__(self, context: LabContext, inputs: tuple[Input, ...]) -> None:
        self.context = context
        self._paths: dict[str, str] = {}
        volumes = {context.files.probes(): {"bind": PROBES_MOUNT, "mode": "ro"}}
        for number, data in enumerate(inputs, start=1):
            folder = f"{INPUT_MOUNT}/{number}"
            volumes[context.files.input(data)] = {"bind": folder, "mode": "ro"}
            self._paths[data.digest()] = f"{folder}/{INPUT_FILE}"
        lifetime_s = container_lifetime_s()
        self._started = context.tool(["sleep", f"{lifetime_s:g}"], ROLE, volumes=volumes)
        self._running: Running | None = None

    def __enter__(self) -> PeerHost:
        self._running = self._started.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._running is not None:
            self._running = None
            self._started.__exit__(exc_type, exc, traceback)

    def payload_path(self, data: Input) -> str | None:
        """Where `data`'s bytes are inside the container, or None if it was not mounted."""
        return self._paths.get(data.digest())

    def run_probe(self, script: str, options: dict[str, Any], timeout_s: float) -> ExecResult:
        """Runs `python3 PROBES_MOUNT/script OPTIONS-JSON` and waits for it to end.

        The probe runs under coreutils timeout: SIGTERM after `timeout_s` seconds, SIGKILL
        a few seconds later, so this returns by then (exit_code 124 or 137: it outlived
        `timeout_s`). `timeout_s` must be at most LONGEST_RUN_S. Raises InfrastructureError
        when the engine cannot run it.
        """
        assert self._running is not None, "use PeerHost as a context manager"
        assert timeout_s <= LONGEST_RUN_S, "longer runs get a container of their own"
        api = self.context.client.api
        argv = ["python3", f"{PROBES_MOUNT}/{script}", json.dumps(options)]
        try:
            created = api.exec_create(
                self._running.id,
                bounded_command(argv, timeout_s),
                stdout=True,
                stderr=True,
                environment={"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"},
            )
            # The probe's whole run: a Ctrl-C must not wait for it (grader.interrupts).
            stdout, stderr = interrupts.wait_for(lambda: api.exec_start(created["Id"], demux=True))
            code = api.exec_inspect(created["Id"]).get("ExitCode")
        except docker.errors.APIError as e:
            raise InfrastructureError(
                f"cannot run the grader's {script} in its container: {e}"
            ) from e
        return ExecResult(code, stdout or b"", stderr or b"")

    @staticmethod
    def outlived(result: ExecResult) -> bool:
        """Whether coreutils timeout stopped the probe (it did not end by itself)."""
        return result.exit_code in (124, 137)
