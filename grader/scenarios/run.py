"""One submission's scenarios, backend-neutral: what each scenario runs, waits for and keeps.

SubmissionRun runs a scenario once and keeps what was seen; a scenario that an earlier run
already answers (grader.scenarios.known) is not run again. Where the programs run is a
subclass's: grader.scenarios.runner.DockerSubmissionRun (containers on a lab network of the
run's own) and grader.scenarios.local_runner.LocalSubmissionRun (processes on loopback).
"""

from __future__ import annotations

import base64
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, ExitStack
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar

from grader.sandbox.backend import Program, Sandbox
from grader.sandbox.peer_host import PeerHost, ServerPeerHost
from grader.sandbox.waiting import Poll
from grader.scenarios import steps
from grader.scenarios.known import Earlier, known_observation
from grader.scenarios.model import (
    Capture,
    ClientAlone,
    ClientPeerReport,
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
    ServerPeerReport,
    ServerSession,
    ServerSessionObservation,
    UdpPeerReport,
    UdpServerSession,
    UdpServerSessionObservation,
)
from grader.spec.model import Input, LabSpec, ReferenceServer, ServiceSpec

ContextT = TypeVar("ContextT", bound=Sandbox)
"""The backend's Sandbox: a LabContext on Docker, a LocalContext on the local backend."""


PeerReport = ClientPeerReport | UdpPeerReport | ServerPeerReport
"""What a grader's peer saw of a student's program: its client's, UDP client's or server's."""


class SubmissionRun(ABC, Generic[ContextT]):
    """Everything one submission's grading needs, torn down together on exit (`close`).

    The scenarios are this class's; a backend gives where they run: `_open` (the Sandbox,
    made on first use), `_student_program`, `_maybe_capture` and `_finished`, and, where
    the grader's peers run in long-lived hosts, `_peer_host` and `_server_peer_host`.
    """

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
        self._seen: dict[Scenario, Observation] = {}
        self._staged: Path | None = None
        """The submission's staged copy (grader.sandbox.staging), once `_open` made it."""
        self.layout_note: str | None = None
        """What the submission's layout made the grader do (grade a sub-folder), once staged."""
        self._captures_dir: Path | None = None

    def __enter__(self) -> SubmissionRun[ContextT]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None:
        """Stops and removes everything the run made; safe to call more than once."""

    @abstractmethod
    def _open(self) -> ContextT:
        """The run's Sandbox, made on first use with the submission staged (`_staged`).
        Raises InfrastructureError when the backend cannot run here."""

    @abstractmethod
    def _student_program(
        self,
        context: ContextT,
        staged: Path,
        role: str,
        env: dict[str, str],
        stdin: Input | None = None,
        *,
        listen: tuple[str, float] | None = None,
        stop_grace_s: float | None = None,
    ) -> AbstractContextManager[Any]:
        """Runs the `role` ("server" or "client") service's program: a Program on enter."""

    @abstractmethod
    def _maybe_capture(
        self, context: ContextT, scenario: Scenario, observed: Program
    ) -> AbstractContextManager[Any]:
        """A running capture of `scenario`'s packets when a check needs them, else None;
        `observed` is the program (or grader peer) whose traffic is captured."""

    def _finish(self, program: Program, file: str, timeout_s: float) -> ProgramRun:
        """steps.finish_program's run of `program`, as its feedback shows it (_as_shown)."""
        return self._as_shown(steps.finish_program(program, file, timeout_s))

    def _as_shown(self, run: ProgramRun) -> ProgramRun:
        """The program's run as its feedback shows it (the local backend names the
        submission's folder as Docker's mount does)."""
        return run

    @abstractmethod
    def _finished(self, running: Any, peer: PeerReport | None = None) -> Capture | None:
        """The capture `_maybe_capture` gave, stopped and read; None for None. `peer` is the
        report of the grader's peer the student's program talked to, if there was one."""

    def _peer_host(self, context: ContextT) -> PeerHost | None:
        """A long-lived host for the grader's clients, or None: each runs on its own."""
        return None

    def _server_peer_host(self, context: ContextT) -> ServerPeerHost | None:
        """A long-lived host for the grader's servers and relays, or None: each on its own."""
        return None

    def _student_server(self, context: ContextT, staged: Path) -> AbstractContextManager[Any]:
        """The student's server, run as the server scenarios and end-to-end run it: told its
        port, watched until it listens (start_s) and given exit_s to stop."""
        server, timeouts = self._service("server"), self.lab.timeouts
        return self._student_program(
            context,
            staged,
            "server",
            steps.program_env(self.port, client=False),
            listen=(server.protocol, timeouts.start_s),
            stop_grace_s=timeouts.exit_s,
        )

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
        self, context: ContextT, staged: Path, scenario: ServerSession | UdpServerSession
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
        with ExitStack() as stack:
            program = stack.enter_context(self._student_server(context, staged))
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
            run = self._finish(program, server.file, wait_s)
            if gone:
                run = replace(run, ended_before_sigterm=True)
            captured = self._finished(packets, tcp_peer or udp_peer)
        if udp:
            return UdpServerSessionObservation(run, listen, udp_peer, captured)
        return ServerSessionObservation(run, listen, tcp_peer, captured)

    def _client_session(
        self,
        context: ContextT,
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
                run = self._finish(program, client.file, run_s)
            report = peer.report()
            captured = self._finished(packets, report)
        return ClientSessionObservation(
            client=run, peer=report, server_port=self.port, capture=captured
        )

    def _ping_session(
        self, context: ContextT, staged: Path, scenario: PingSession
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
                run = self._finish(program, client.file, self.lab.timeouts.run_s)
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
        self, context: ContextT, staged: Path, scenario: EndToEnd
    ) -> EndToEndObservation:
        server, client = self._service("server"), self._service("client")
        timeouts = self.lab.timeouts
        absent_server = steps.missing(staged, server.file)
        if absent_server is not None:
            return EndToEndObservation(server=absent_server, listen=None, client=None)
        absent_client = steps.missing(staged, client.file)
        client_env = steps.program_env(self.port, client=True)
        with ExitStack() as stack:
            server_program = stack.enter_context(self._student_server(context, staged))
            packets = stack.enter_context(self._maybe_capture(context, scenario, server_program))
            listen = steps.wait_for_listen(
                server_program, self.port, server.protocol, timeouts.start_s
            )
            client_run: ProgramRun | None = absent_client
            if absent_client is None and listen.reachable:
                with self._student_program(
                    context, staged, "client", client_env, scenario.stdin
                ) as client_program:
                    client_run = self._finish(client_program, client.file, timeouts.run_s)
            wait_s = timeouts.exit_s
            if server.serves_forever:
                server_program.signal("SIGTERM")
                wait_s = steps.after_stop_signal_s(self.lab)
            server_run = self._finish(server_program, server.file, wait_s)
            captured = self._finished(packets)
        return EndToEndObservation(
            server=server_run, listen=listen, client=client_run, capture=captured
        )
