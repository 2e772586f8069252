"""Runs scenarios for one submission on its own lab network, once each, and keeps what was seen.

A scenario that an earlier run already answers (grader.scenarios.known) is not run again.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from types import TracebackType
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
from grader.sandbox.waiting import Poll
from grader.scenarios import steps
from grader.scenarios.known import Earlier, known_observation
from grader.scenarios.model import (
    Capture,
    ClientAlone,
    ClientSession,
    ClientSessionObservation,
    EndToEnd,
    EndToEndObservation,
    Observation,
    PingSession,
    PingSessionObservation,
    ProgramRun,
    RelayedDatagram,
    Scenario,
    ServerSession,
    ServerSessionObservation,
    UdpServerSession,
    UdpServerSessionObservation,
)
from grader.spec.model import Input, LabSpec, ReferenceServer, ServiceSpec


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


class SubmissionRun:
    """Everything one submission's grading needs, torn down together on exit."""

    def __init__(
        self,
        lab: LabSpec,
        submission: Path,
        captured: frozenset[Scenario] = frozenset(),
        *,
        reuse_known: bool = True,
    ) -> None:
        self.lab = lab
        self.submission = submission
        self.captured = captured
        """The scenarios whose packets some check needs; only those are captured."""
        self.reuse_known = reuse_known
        """Whether a scenario an earlier run already answers is taken from it (see known)."""
        self._ran: list[Earlier] = []
        self.labels = labels.RunLabels.new()
        self._stack = ExitStack()
        self._seen: dict[Scenario, Observation] = {}
        self._context: LabContext | None = None
        self._client: Any = None
        self._staged: Path | None = None
        self.layout_note: str | None = None
        """What the submission's layout made the grader do (grade a sub-folder), once staged."""
        self._captures_dir: Path | None = None
        self._peers: PeerHost | None = None
        self._server_peers: ServerPeerHost | None = None
        """The container of the grader's peers named `server`, while it is up."""
        self._hosts: dict[str, StudentHost] = {}
        """The student services' containers now up, by role (see _student_program)."""

    def __enter__(self) -> SubmissionRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

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

    def _programs(self) -> tuple[str, ...]:
        services = (self.lab.services.server, self.lab.services.client)
        return tuple(service.file for service in services if service is not None)

    def observe(self, scenario: Scenario) -> Observation:
        """What the submission does in `scenario`: run on first use, then kept.

        When an earlier run already shows what `scenario` would (grader.scenarios.known), the
        observation is that run's, marked `reused`, and no program is started. Raises what
        running raises (InfrastructureError and the engine's errors).
        """
        if scenario not in self._seen:
            known = self._known(scenario)
            if known is not None:
                self._seen[scenario] = known
            else:
                seen = self._run(scenario)
                self._seen[scenario] = seen
                self._ran.append(Earlier(scenario, seen, scenario in self.captured))
        return self._seen[scenario]

    @property
    def ran(self) -> tuple[Scenario, ...]:
        """The scenarios that were run (not taken from an earlier run), in order."""
        return tuple(earlier.scenario for earlier in self._ran)

    def _known(self, scenario: Scenario) -> Observation | None:
        if not self.reuse_known or not self._ran:
            return None
        client_absent = None
        if isinstance(scenario, EndToEnd) and self._staged is not None:
            client_absent = steps.missing(self._staged, self._service("client").file)
        return known_observation(
            scenario, self._ran, captured=scenario in self.captured, client_absent=client_absent
        )

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

    def _finished(self, running: PacketCapture | None) -> Capture | None:
        if running is None:
            return None
        pcap = running.stop()
        return Capture(pcap, conversation(read_packets(pcap)))

    @property
    def port(self) -> int:
        service = self.lab.services.server or self.lab.services.client
        assert service is not None
        return service.grading_port or service.port or 0

    def _peer_deadline_s(self, run_s: float | None = None) -> float:
        """How long a grader server or relay may wait for the student's client, in seconds.

        The client gets start_s to begin and run_s (the lab's, unless given) to finish; the
        grader stops the peer with SIGTERM as soon as the client is done, so this only
        bounds a grader that lost track.
        """
        timeouts = self.lab.timeouts
        return timeouts.start_s + (run_s or timeouts.run_s) + steps.HELPER_MARGIN_S

    def _service(self, role: str) -> ServiceSpec:
        service: ServiceSpec | None = getattr(self.lab.services, role)
        assert service is not None, f"the spec loader guarantees services.{role}"
        return service

    def _run(self, scenario: Scenario) -> Observation:
        context = self._open()
        assert self._staged is not None
        match scenario:
            case ServerSession() | UdpServerSession():
                return self._server_session(context, self._staged, scenario)
            case ClientSession():
                return self._client_session(context, self._staged, scenario, listen=True)
            case ClientAlone():
                return self._client_session(context, self._staged, scenario, listen=False)
            case EndToEnd():
                return self._end_to_end(context, self._staged, scenario)
            case PingSession():
                return self._ping_session(context, self._staged, scenario)

    def _server_session(
        self, context: LabContext, staged: Path, scenario: ServerSession | UdpServerSession
    ) -> ServerSessionObservation | UdpServerSessionObservation:
        """The student's server, driven by the grader's TCP or UDP client once it is ready."""
        server = self._service("server")
        timeouts = self.lab.timeouts
        udp = isinstance(scenario, UdpServerSession)
        absent = steps.missing(staged, server.file)
        if absent is not None:
            if udp:
                return UdpServerSessionObservation(server=absent, listen=None, peer=None)
            return ServerSessionObservation(server=absent, listen=None, peer=None)
        env = steps.program_env(self.port, client=False)
        with ExitStack() as stack:
            program = stack.enter_context(
                self._student_program(
                    context,
                    staged,
                    "server",
                    env,
                    listen=(server.protocol, timeouts.start_s),
                    stop_grace_s=timeouts.exit_s,
                )
            )
            packets = stack.enter_context(self._maybe_capture(context, scenario, program))
            listen = steps.wait_for_listen(program, self.port, server.protocol, timeouts.start_s)
            tcp_peer, udp_peer = None, None
            if program.is_running() and isinstance(scenario, UdpServerSession):
                udp_peer = steps.run_reference_udp_client(
                    context, self.port, scenario.client, self._peer_host(context)
                )
            elif program.is_running() and isinstance(scenario, ServerSession):
                tcp_peer = steps.run_reference_client(
                    context, self.port, scenario.client, self._peer_host(context)
                )
            gone = False
            wait_s = timeouts.exit_s
            if server.serves_forever or udp:
                # Its work is done; a polite stop is part of the test, so whether the program
                # was still there to receive it is part of what is seen.
                if scenario.settle_s > 0:
                    Poll(scenario.settle_s).until(
                        lambda: True if not program.is_running() else None
                    )
                gone = not program.is_running()
                program.signal("SIGTERM")
                wait_s = steps.after_stop_signal_s(self.lab)
            run = steps.finish_program(program, server.file, wait_s)
            if gone:
                run = replace(run, ended_before_sigterm=True)
            captured = self._finished(packets)
        if udp:
            return UdpServerSessionObservation(run, listen, udp_peer, captured)
        return ServerSessionObservation(run, listen, tcp_peer, captured)

    def _client_session(
        self,
        context: LabContext,
        staged: Path,
        scenario: ClientSession | ClientAlone,
        *,
        listen: bool,
    ) -> ClientSessionObservation:
        client = self._service("client")
        absent = steps.missing(staged, client.file)
        if absent is not None:
            return ClientSessionObservation(client=absent, peer=None, server_port=self.port)
        reference = scenario.server if isinstance(scenario, ClientSession) else ReferenceServer()
        own_run_s = scenario.run_s if isinstance(scenario, ClientSession) else None
        run_s = own_run_s or self.lab.timeouts.run_s
        with ExitStack() as stack:
            peer = stack.enter_context(
                steps.ReferenceServer(
                    context,
                    self.port,
                    reference.send,
                    reference.pause_ms,
                    echo=reference.echo,
                    listen=listen,
                    start_timeout_s=self.lab.timeouts.start_s,
                    deadline_s=self._peer_deadline_s(run_s),
                    host=self._server_peer_host(context),
                )
            )
            packets = stack.enter_context(self._maybe_capture(context, scenario, peer.running))
            env = steps.program_env(self.port, client=True)
            with self._student_program(context, staged, "client", env, scenario.stdin) as program:
                run = steps.finish_program(program, client.file, run_s)
            report = peer.report()
            captured = self._finished(packets)
        return ClientSessionObservation(
            client=run, peer=report, server_port=self.port, capture=captured
        )

    def _ping_session(
        self, context: LabContext, staged: Path, scenario: PingSession
    ) -> PingSessionObservation:
        """The student's client -> relay (alias "server") -> the grader's UDP echo server.

        The echo server runs in the relay's container (relay.py's `echo_upstream`).
        """
        client = self._service("client")
        absent = steps.missing(staged, client.file)
        if absent is not None:
            return PingSessionObservation(client=absent, relayed=())
        start_s = self.lab.timeouts.start_s
        with ExitStack() as stack:
            if scenario.server:
                relay_options = {
                    "port": self.port,
                    "echo_upstream": True,  # the grader's UDP echo server, inside the relay
                    "plan": scenario.impairment.as_plan(),
                    "deadline_s": self._peer_deadline_s(),
                }
                front = stack.enter_context(
                    steps.ready_helper(
                        context,
                        "relay.py",
                        relay_options,
                        "relay",
                        steps.SERVER_ALIAS,
                        start_s,
                        self._server_peer_host(context),
                    )
                )
            else:
                closed = {
                    "mode": "closed",
                    "port": self.port,
                    "deadline_s": self._peer_deadline_s(),
                }
                front = stack.enter_context(
                    steps.ready_helper(
                        context,
                        "peer.py",
                        closed,
                        "no-server",
                        steps.SERVER_ALIAS,
                        start_s,
                        self._server_peer_host(context),
                    )
                )
            env = {**steps.program_env(self.port, client=True), **dict(scenario.env)}
            with self._student_program(context, staged, "client", env) as program:
                run = steps.finish_program(program, client.file, self.lab.timeouts.run_s)
            report = steps.stop_and_report(front)
        relayed = tuple(
            RelayedDatagram(
                direction=d["direction"],
                index=int(d["index"]),
                payload=base64.b64decode(d["payload"]),
                size=int(d["size"]),
                action=str(d["action"]),
                delay_ms=int(d["delay_ms"]),
                reason=str(d["reason"]),
                copies=int(d.get("copies", 0)),
                interval_ms=int(d.get("interval_ms", 0)),
                at_s=int(d["at_ms"]) / 1000 if "at_ms" in d else None,
            )
            for d in report.get("datagrams", [])
        )
        return PingSessionObservation(
            client=run, relayed=relayed, relayed_left_out=int(report.get("left_out", 0))
        )

    def _end_to_end(
        self, context: LabContext, staged: Path, scenario: EndToEnd
    ) -> EndToEndObservation:
        server, client = self._service("server"), self._service("client")
        timeouts = self.lab.timeouts
        absent_server = steps.missing(staged, server.file)
        if absent_server is not None:
            return EndToEndObservation(server=absent_server, listen=None, client=None)
        absent_client = steps.missing(staged, client.file)
        server_env = steps.program_env(self.port, client=False)
        client_env = steps.program_env(self.port, client=True)
        with ExitStack() as stack:
            server_program = stack.enter_context(
                self._student_program(
                    context,
                    staged,
                    "server",
                    server_env,
                    listen=(server.protocol, timeouts.start_s),
                    stop_grace_s=timeouts.exit_s,
                )
            )
            packets = stack.enter_context(self._maybe_capture(context, scenario, server_program))
            listen = steps.wait_for_listen(
                server_program, self.port, server.protocol, timeouts.start_s
            )
            client_run: ProgramRun | None = absent_client
            if absent_client is None and listen.reachable:
                with self._student_program(
                    context, staged, "client", client_env, scenario.stdin
                ) as client_program:
                    client_run = steps.finish_program(client_program, client.file, timeouts.run_s)
            wait_s = timeouts.exit_s
            if server.serves_forever:
                server_program.signal("SIGTERM")
                wait_s = steps.after_stop_signal_s(self.lab)
            server_run = steps.finish_program(server_program, server.file, wait_s)
            captured = self._finished(packets)
        return EndToEndObservation(
            server=server_run, listen=listen, client=client_run, capture=captured
        )
