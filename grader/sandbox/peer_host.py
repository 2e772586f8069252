"""Grader containers that run the grader's peers one after another, by `docker exec`.

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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import docker.errors

from grader import interrupts
from grader.errors import InfrastructureError
from grader.sandbox.capture import ObservedHost
from grader.sandbox.containers import (
    KILL_AFTER_S,
    PROBES_MOUNT,
    LabContext,
    bounded_command,
    container_lifetime_s,
)
from grader.sandbox.exec_host import TOOL_ENV, ExecHost, mount_inputs
from grader.sandbox.exec_run import ExecRun
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


class PeerHost(ExecHost):
    """The run's container for reference clients; a context manager that removes it.

    Started on entry, on the lab network with no alias. `inputs` are the payloads it mounts
    (see `payload_path`). Raises InfrastructureError when the engine refuses to start it.
    """

    def __init__(self, context: LabContext, inputs: tuple[Input, ...]) -> None:
        volumes = {context.files.probes(): {"bind": PROBES_MOUNT, "mode": "ro"}}
        self._paths = mount_inputs(context, inputs, volumes)
        idle_s = container_lifetime_s()
        super().__init__(
            context, context.tool(["sleep", f"{idle_s:g}"], ROLE, volumes=volumes), idle_s
        )

    def usable(self) -> bool:
        """Whether a new client may run here: one of LONGEST_RUN_S (and the SIGKILL after it)
        started now still ends before the container does."""
        age = time.monotonic() - self._since
        return super().usable() and age + LONGEST_RUN_S + KILL_AFTER_S < self.idle_s

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
        assert self.running is not None, "use PeerHost as a context manager"
        assert timeout_s <= LONGEST_RUN_S, "longer runs get a container of their own"
        api = self.context.client.api
        argv = ["python3", f"{PROBES_MOUNT}/{script}", json.dumps(options)]
        try:
            created = api.exec_create(
                self.running.id,
                bounded_command(argv, timeout_s),
                stdout=True,
                stderr=True,
                environment=TOOL_ENV,
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


SERVER_PEERS_ROLE = "server-peers"
SERVER_PEER_CAPABILITIES = ("NET_RAW",)
"""The reference server's socket filter for SYNs (peer.py) needs NET_RAW; nothing else does."""


class ServerPeerHost(ObservedHost):
    """The run's container for the grader's peers that take the lab name `server`.

    The reference server of client scenarios, the relay and the host where nothing listens
    (peer.py's `server` and `closed` modes, relay.py) each used to get a container of their
    own, for the name. This one carries the name and runs them one after another with `docker
    exec`; each is stopped through its stdin (probes/stop_on_stdin.py) and prints its report
    as it would in a container of its own. A context manager: started on entry, removed on
    exit or by `discard`. Raises InfrastructureError when the engine refuses to start it.
    """

    def __init__(self, context: LabContext, alias: str) -> None:
        idle_s = container_lifetime_s()
        starting = context.tool(
            ["sleep", f"{idle_s:g}"],
            SERVER_PEERS_ROLE,
            alias=alias,
            capabilities=SERVER_PEER_CAPABILITIES,
            volumes={context.files.probes(): {"bind": PROBES_MOUNT, "mode": "ro"}},
        )
        super().__init__(context, starting, idle_s)

    @contextmanager
    def peer(self, script: str, options: dict[str, Any]) -> Iterator[ExecRun]:
        """Runs `python3 PROBES_MOUNT/script OPTIONS-JSON` here until it is stopped.

        The probe is told to take its stop from stdin; on exit it is stopped if it still
        runs, and a probe that does not stop takes the host with it. Raises
        InfrastructureError when the engine refuses the exec.
        """
        run = self.exec(
            ["python3", f"{PROBES_MOUNT}/{script}", json.dumps({**options, "stop_on_stdin": True})]
        )
        try:
            yield run
        except BaseException:
            self.discard()
            raise
        finally:
            if not run.close():
                self.discard()
