"""One long-lived container per student service, whose programs run one after another by exec.

A grading used to start a fresh container for every run of a student's program (lab 02: 9
servers and 6 clients), at 0.2-0.4 s per start. A StudentHost is started once per service
(the server, with the lab name `server`; the client, with none) and idles; each scenario
runs its program in it with `docker exec` of run_bounded.py in host mode.

What the per-run container gave, and how a host keeps it:
- **Nothing left between runs.** The container's init is the idle `sleep` itself (no Docker
  init), so the wrapper's kill(-1) sweep reaches every process but init and the wrapper, as
  in a container of its own: at the end of a run (also what left the program's session) and
  again before the next program starts. The wrapper is the subreaper of the program's
  orphans and reaps them. Before a program starts, what STUDENT_UID left in the writable
  folders (/tmp, /dev/shm) is removed.
- **Stopping needs no process slot.** The grader's commands (SIGTERM, SIGUSR2 "time is
  up") go to the wrapper over the exec's stdin, which the wrapper reads in its own loop: a
  fork bomb that fills the pids limit cannot keep the grader from asking for the record.
  When the grader goes away the stdin closes, and the wrapper stops the program.
- **The record cannot be forged.** Only the root wrapper writes to the exec's stdout; the
  program's output reaches the grader only inside the wrapper's record, as before.
- **No port held.** Connections an earlier run closed first stay in TIME_WAIT (or FIN_WAIT2)
  for up to a minute in the namespace, and would hold a port against a later program that
  binds it without SO_REUSEADDR ("Address already in use"), which a fresh namespace never
  shows. The wrapper reports the TCP ports outside the ephemeral range still held after its
  sweep (run_bounded.py's `ports_held`); a run that left any gives up its host, and the next
  run gets a fresh one. (A server that closes first, as lab 01's does, so gets a container
  per run, as before; an echo server whose client closes first keeps one.)
- **Limits** are the container's (memory, CPU, pids: one more for the idle process) and the
  wrapper's per run (output kept, lifetime, file size, open files).
- **Hidden inputs stay hidden.** The host mounts every input the lab's checks name, each
  readable by root only (RunVolumes makes inputs 0o600); the wrapper opens the program's
  stdin as root, so the program reads its own input and no other.

A program whose wrapper does not answer is stopped with its whole host, and the next run gets
a new host, as it would have got a new container.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from grader.sandbox.capture import ObservedHost
from grader.sandbox.containers import (
    RUN_BOUNDED_MOUNT,
    ExitState,
    LabContext,
    container_lifetime_s,
    started,
)
from grader.sandbox.exec_host import mount_inputs
from grader.sandbox.exec_run import ExecRun
from grader.spec.model import Input

HOST_LABEL = "socketlab.host"
"""On a StudentHost's container: its programs are execs, not the container's own command."""


class HostedProgram(ExecRun):
    """One program run by exec in a StudentHost: run_bounded.py in host mode.

    Raises InfrastructureError when the engine refuses the exec.
    """

    def __init__(self, host: StudentHost, options: dict[str, Any], env: dict[str, str]) -> None:
        assert host.running is not None, "the host is started"
        super().__init__(
            host.context.client,
            host.running.container,
            # -s: no user site-packages. HOME is /tmp, where a program could leave a .pth
            # file that this root interpreter would otherwise run at its start.
            ["python3", "-s", RUN_BOUNDED_MOUNT, json.dumps(options)],
            host.output_limit_bytes,
            env=env,
        )
        self.host = host
        self.owner = host

    def state(self) -> ExitState:
        return ExitState(exit_code=self.exit_code(), oom_killed=self._oom_killed())

    def _oom_killed(self) -> bool:
        record = self._record()
        if record is not None:
            return bool(record.get("oom_kills"))
        # No record: only the OOM killer or the grader kills the wrapper (SIGKILL, 137).
        return self.ended and self.exit_code() == 137 and not self.host.discarded

    def stop(self, grace_s: float = 1.0) -> None:
        """The wrapper did not answer: the whole host goes, and with it the program."""
        self.host.discard()
        self.wait_exit(grace_s + 5.0)

    def close(self, stop: str = "SIGUSR2") -> bool:
        """Ends the run: a wrapper still running is told time is up; if it does not answer,
        the host goes."""
        ended = super().close(stop)
        record = self._record()
        left = record.get("leftovers", ["no report"]) if record is not None else ["no record"]
        if not ended or left:
            # A wrapper that did not answer, or died without its record (the OOM killer):
            # orphans it left would go to the idle init, which reaps nothing. Or the run left
            # something a later program could meet (run_bounded.leftovers: a port held in
            # TIME_WAIT, IPC objects, files it made unremovable), which a fresh container
            # would not have. The next run gets a new host.
            self.host.discard()
        return ended

    def _record(self) -> dict[str, Any] | None:
        for line in reversed(self.output(stdout=True).decode("utf-8", "replace").splitlines()):
            if line.startswith("RUN "):
                return dict(json.loads(line.removeprefix("RUN ")))
        return None


class StudentHost(ObservedHost):
    """A service's container for the programs of one submission; a context manager.

    `alias` is its name on the lab network (the server's `server`, None for the client).
    `inputs` are mounted for the programs' stdin. The container is started on entry and
    removed on exit (or by `discard`). Raises InfrastructureError when the engine refuses.
    """

    def __init__(
        self,
        context: LabContext,
        submission: Any,
        role: str,
        alias: str | None,
        inputs: tuple[Input, ...],
    ) -> None:
        self.role = role
        self.alias = alias
        self.output_limit_bytes = context.limits.output_kb * 1024 * 4
        volumes = context.student_volumes(submission)
        self._paths = mount_inputs(context, inputs, volumes)
        create = context.student_container({}, alias, role, volumes)
        # The idle `sleep` is the namespace's init itself, no Docker init: the wrapper's
        # kill(-1) sweep reaches every process but init and the wrapper, as in a container of
        # its own, and the wrapper reaps the program's orphans (it is their subreaper). It
        # takes the process slot Docker's init took.
        create["init"] = False
        create["labels"] = {**create["labels"], HOST_LABEL: "true"}
        # Twice a run's lifetime, used for a new run only within the first half
        # (REUSE_SHARE): a run, which its wrapper stops at container_lifetime_s(), always
        # ends before its host.
        idle_s = 2 * container_lifetime_s()
        starting = started(
            context.client, self.output_limit_bytes, command=["sleep", f"{idle_s:g}"], **create
        )
        super().__init__(context, starting, idle_s)

    def usable(self, stdin: Input | None = None) -> bool:
        """Whether a new run may use this host: running, young enough, its stdin mounted."""
        if stdin is not None and stdin.digest() not in self._paths:
            return False
        return super().usable()

    @contextmanager
    def program(
        self,
        file: str,
        env: dict[str, str],
        stdin: Input | None = None,
        *,
        listen: tuple[str, float] | None = None,
        stop_grace_s: float | None = None,
    ) -> Iterator[HostedProgram]:
        """Runs `python3 FILE` as LabContext.student_program does, by exec in this host.

        The caller checks `usable(stdin)` first. On exit the run is over: whatever of it
        still runs is stopped (see HostedProgram.close).
        """
        options = self.context.wrapper_options(file, listen=listen, stop_grace_s=stop_grace_s)
        options["host"] = True
        if stdin is not None:
            options["stdin"] = self._paths[stdin.digest()]
        program = HostedProgram(self, options, env)
        try:
            yield program
        except BaseException:
            # An interrupt or a grader error: no waiting for the wrapper, the host goes now,
            # as a run's own container would.
            self.discard()
            raise
        finally:
            program.close()
