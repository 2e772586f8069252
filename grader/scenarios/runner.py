"""The Docker backend of a submission's run: its programs in containers on a lab network of its own.

The scenarios are grader.scenarios.run.SubmissionRun's; this class says where they run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from grader import interrupts
from grader.packets.conversation import conversation
from grader.packets.pcap import read_packets
from grader.sandbox import engine, image, labels, network, scratch, staging
from grader.sandbox.capture import PacketCapture, capture
from grader.sandbox.containers import LabContext
from grader.sandbox.peer_host import PeerHost, ServerPeerHost
from grader.sandbox.student_host import StudentHost
from grader.sandbox.volumes import RunVolumes
from grader.scenarios import steps
from grader.scenarios.model import Capture, Scenario
from grader.scenarios.run import PeerReport, SubmissionRun
from grader.spec.model import Input, LabSpec


def inputs_named_by(lab: LabSpec) -> tuple[Input, ...]:
    """Every Input in the lab's checks' parameters: what the scenarios will want put.

    Putting them with the submission costs one filler container instead of one per input
    (lab 02 names eleven); an input no parameter names is still put when first needed.
    """
    found: dict[str, Input] = {}
    pending: list[object] = [check.params for check in lab.checks]
    while pending:
        value = pending.pop()
        if isinstance(value, Input):
            found.setdefault(value.digest(), value)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            pending.extend(getattr(value, f.name) for f in dataclasses.fields(value))
        elif isinstance(value, tuple | list | frozenset | set):
            pending.extend(value)
        elif isinstance(value, dict):
            pending.extend(value.values())
    return tuple(found.values())


class DockerSubmissionRun(SubmissionRun[LabContext]):
    """SubmissionRun on Docker: the programs in containers on a lab network of the run's own."""

    def __init__(
        self,
        lab: LabSpec,
        submission: Path,
        captured: frozenset[Scenario] = frozenset(),
        *,
        reuse_known: bool = True,
    ) -> None:
        super().__init__(lab, submission, captured, reuse_known=reuse_known)
        self.labels = labels.RunLabels.new()
        self._stack = ExitStack()
        self._context: LabContext | None = None
        self._client: Any = None
        self._peers: PeerHost | None = None
        self._server_peers: ServerPeerHost | None = None
        """The container of the grader's peers named `server`, while it is up."""
        self._hosts: dict[str, StudentHost] = {}
        """The student services' containers now up, by role (see _student_program)."""

    def close(self) -> None:
        try:
            try:
                for role in list(self._hosts):
                    self._release(role)
                self._release_server_peers()
            finally:
                self._stack.close()
        finally:
            # By run id, and whenever the engine answered: an interrupt in the middle of
            # `_open` leaves resources that no context manager above knows of yet.
            if self._client is not None:
                labels.sweep(self._client, run_id=self.labels.run_id, stale_only=False)
            self._context = None
            self._peers = None

    def _open(self) -> LabContext:
        """Connects, checks the image, puts the files and makes the network on first use."""
        if self._context is None:
            client = engine.connect()
            self._client = client
            runtime = image.require_image(client)
            labels.sweep(client)
            scratch.sweep_stale()  # what killed runs of this host left in the temp directory
            # Last out: the volumes outlive every container that mounts them.
            volumes = self._stack.enter_context(RunVolumes(client, self.labels, runtime))
            # 0o700: only the grader's user reaches the copy and the captures read back;
            # containers get the files through the engine's volumes, never from here.
            workdir = self._stack.enter_context(scratch.run_directory(self.labels.run_id, "run"))
            self._staged = self._stack.enter_context(
                staging.staged_submission(self.submission, workdir / "submission", self._programs())
            )
            self.layout_note = staging.staging_record(self._staged).layout.note
            # Independent engine work at once: the files go into their volumes (a filler
            # container) while the network and its name server start.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="socketlab-fill") as pool:
                filled = pool.submit(volumes.prepare, self._staged, inputs_named_by(self.lab))
                lab_network = self._stack.enter_context(
                    network.lab_network(client, self.labels, image_name=runtime)
                )
                interrupts.wait_for(filled.result)
            self._captures_dir = workdir / "captures"
            self._context = LabContext(
                client, runtime, lab_network, self.labels, self.lab.limits, volumes
            )
        return self._context

    def _peer_host(self, context: LabContext) -> PeerHost:
        """The run's container for reference clients, started on first use and replaced
        when too old for a client to finish in it (a submission whose server makes every
        client wait out its deadline can make the server scenarios outlast a container)."""
        if self._peers is not None and not self._peers.usable():
            self._peers.discard()
            self._peers = None
        if self._peers is None:
            self._peers = self._stack.enter_context(PeerHost(context, inputs_named_by(self.lab)))
        return self._peers

    def _release_server_peers(self) -> None:
        host, self._server_peers = self._server_peers, None
        if host is not None:
            host.discard()

    def _server_peer_host(self, context: LabContext) -> ServerPeerHost:
        """The container of the grader's peers named `server`: up while client scenarios run.

        The student's server host gives up the name first; a host near the end of its
        lifetime is replaced.
        """
        self._release("server")
        if self._server_peers is not None and not self._server_peers.usable():
            self._release_server_peers()
        if self._server_peers is None:
            host = ServerPeerHost(context, steps.SERVER_ALIAS)
            host.__enter__()
            self._server_peers = host
        return self._server_peers

    def _release(self, role: str) -> None:
        """Removes the `role` service's host, if one is up."""
        host = self._hosts.pop(role, None)
        if host is not None:
            host.discard()

    def _student_program(
        self,
        context: LabContext,
        staged: Path,
        role: str,
        env: dict[str, str],
        stdin: Input | None = None,
        *,
        listen: tuple[str, float] | None = None,
        stop_grace_s: float | None = None,
    ) -> Any:
        """Runs the `role` service's program: by exec in its host, started on first use.

        The server's host carries the lab name `server` for as long as it is up: a scenario
        whose grader peer takes that name releases it first (_server_peer_host). A host
        whose last run left a port held gave itself up (StudentHost). A stdin the host did
        not mount (no check names it) gets a container of its own, as every run used to.
        """
        file = self._service(role).file
        alias = steps.SERVER_ALIAS if role == "server" else None
        host = self._hosts.get(role)
        if host is not None and not host.usable(stdin):
            self._release(role)
            host = None
        if host is None and role == "server":
            self._release_server_peers()  # the name `server` is the student's server's now
        named = {data.digest() for data in inputs_named_by(self.lab)}
        if host is None and (stdin is None or stdin.digest() in named):
            host = StudentHost(context, staged, role, alias, inputs_named_by(self.lab))
            host.__enter__()
            self._hosts[role] = host
        if host is None:
            return context.student_program(
                staged, file, env, alias, role, stdin, listen=listen, stop_grace_s=stop_grace_s
            )
        return host.program(file, env, stdin, listen=listen, stop_grace_s=stop_grace_s)

    @contextmanager
    def _maybe_capture(
        self, context: LabContext, scenario: Scenario, observed: Any
    ) -> Iterator[PacketCapture | None]:
        """Captures in `observed`'s namespace (a containers.Running here) when a check needs
        this scenario's packets."""
        if scenario not in self.captured:
            yield None
            return
        assert self._captures_dir is not None
        name = f"scenario-{len(self._seen) + 1}"
        owner = getattr(observed, "owner", None)  # a long-lived host: capture in its own helper
        host = owner.capture_host() if owner is not None else None
        with capture(context, observed, self._captures_dir, name, host) as running:
            yield running  # None when the program exited before the capture attached

    def _finished(
        self, running: PacketCapture | None, peer: PeerReport | None = None
    ) -> Capture | None:
        if running is None:
            return None
        pcap = running.stop()
        return Capture(pcap, conversation(read_packets(pcap)))
