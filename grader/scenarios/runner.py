"""Runs scenarios for one submission on its own lab network, once each, and keeps what was seen."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from grader.packets.conversation import conversation
from grader.packets.pcap import read_packets
from grader.sandbox import engine, image, labels, network, scratch, staging
from grader.sandbox.capture import PacketCapture, capture
from grader.sandbox.containers import LabContext, Running
from grader.scenarios import steps
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


class SubmissionRun:
    """Everything one submission's grading needs, torn down together on exit."""

    def __init__(
        self, lab: LabSpec, submission: Path, captured: frozenset[Scenario] = frozenset()
    ) -> None:
        self.lab = lab
        self.submission = submission
        self.captured = captured
        """The scenarios whose packets some check needs; only those are captured."""
        self.labels = labels.RunLabels.new()
        self._stack = ExitStack()
        self._seen: dict[Scenario, Observation] = {}
        self._context: LabContext | None = None
        self._client: Any = None
        self._staged: Path | None = None
        self._captures_dir: Path | None = None
        self._workdir: Path | None = None

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
            self._stack.close()
        finally:
            # By run id, and whenever the engine answered: an interrupt in the middle of
            # `_open` leaves resources that no context manager above knows of yet.
            if self._client is not None:
                labels.sweep(self._client, run_id=self.labels.run_id, stale_only=False)
            self._context = None

    def _open(self) -> LabContext:
        """Connects, checks the image and makes the network on first use."""
        if self._context is None:
            client = engine.connect()
            self._client = client
            runtime = image.require_image(client)
            labels.sweep(client)
            scratch.sweep_stale()  # what killed runs of this host left in the temp directory
            lab_network = self._stack.enter_context(
                network.lab_network(client, self.labels, image_name=runtime)
            )
            # 0o700: only the grader's user reaches the copy, its stdin files and captures;
            # containers get them through bind mounts, which skip the host's parents.
            workdir = self._stack.enter_context(scratch.run_directory(self.labels.run_id, "run"))
            self._staged = self._stack.enter_context(
                staging.staged_submission(self.submission, workdir / "submission")
            )
            self._workdir = workdir
            self._captures_dir = workdir / "captures"
            self._context = LabContext(client, runtime, lab_network, self.labels, self.lab.limits)
        return self._context

    def observe(self, scenario: Scenario) -> Observation:
        if scenario not in self._seen:
            self._seen[scenario] = self._run(scenario)
        return self._seen[scenario]

    @contextmanager
    def _maybe_capture(
        self, context: LabContext, scenario: Scenario, observed: Running
    ) -> Iterator[PacketCapture | None]:
        """Captures in `observed`'s namespace when a check needs this scenario's packets."""
        if scenario not in self.captured:
            yield None
            return
        assert self._captures_dir is not None
        name = f"scenario-{len(self._seen) + 1}"
        with capture(context, observed, self._captures_dir, name) as running:
            yield running  # None when the program exited before the capture attached

    @staticmethod
    def _finished(running: PacketCapture | None) -> Capture | None:
        if running is None:
            return None
        pcap = running.stop()
        return Capture(pcap, conversation(read_packets(pcap)))

    @property
    def port(self) -> int:
        service = self.lab.services.server or self.lab.services.client
        assert service is not None
        return service.grading_port or service.port or 0

    def _peer_deadline_s(self) -> float:
        """How long a grader server or relay may wait for the student's client, in seconds.

        The client gets start_s to begin and run_s to finish; the grader stops the peer with
        SIGTERM as soon as the client is done, so this only bounds a grader that lost track.
        """
        timeouts = self.lab.timeouts
        return timeouts.start_s + timeouts.run_s + steps.HELPER_MARGIN_S

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
                context.student_program(staged, server.file, env, steps.SERVER_ALIAS, "server")
            )
            packets = stack.enter_context(self._maybe_capture(context, scenario, program))
            listen = steps.wait_for_listen(
                context, program, self.port, server.protocol, timeouts.start_s
            )
            tcp_peer, udp_peer = None, None
            if program.is_running() and isinstance(scenario, UdpServerSession):
                udp_peer = steps.run_reference_udp_client(context, self.port, scenario.client)
            elif program.is_running() and isinstance(scenario, ServerSession):
                payload = self._input_file(scenario.client.send)
                tcp_peer = steps.run_reference_client(context, self.port, scenario.client, payload)
            if server.serves_forever or udp:
                program.signal("SIGTERM")  # its work is done; a polite stop is part of the test
            run = steps.finish_program(program, server.file, timeouts.exit_s)
            captured = self._finished(packets)
        if udp:
            return UdpServerSessionObservation(run, listen, udp_peer, captured)
        return ServerSessionObservation(run, listen, tcp_peer, captured)

    def _stdin_file(self, stdin: Input | None) -> Path | None:
        """The client's standard input as a file for its container, or None for no input."""
        return None if stdin is None else self._input_file(stdin)

    def _input_file(self, data: Input) -> Path:
        """The bytes `data` describes, in a file of this run that containers can read."""
        assert self._workdir is not None
        path = self._workdir / f"input-{data.digest()}"
        if not path.exists():
            path.write_bytes(data.build())
            path.chmod(0o644)
        return path

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
        stdin = self._stdin_file(scenario.stdin if isinstance(scenario, ClientSession) else None)
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
                    deadline_s=self._peer_deadline_s(),
                )
            )
            packets = stack.enter_context(self._maybe_capture(context, scenario, peer.running))
            env = steps.program_env(self.port, client=True)
            with context.student_program(
                staged, client.file, env, None, "client", stdin
            ) as program:
                run = steps.finish_program(program, client.file, self.lab.timeouts.run_s)
            report = peer.report()
            captured = self._finished(packets)
        return ClientSessionObservation(
            client=run, peer=report, server_port=self.port, capture=captured
        )

    def _ping_session(
        self, context: LabContext, staged: Path, scenario: PingSession
    ) -> PingSessionObservation:
        """The student's client -> relay (alias "server") -> the grader's UDP echo server."""
        client = self._service("client")
        absent = steps.missing(staged, client.file)
        if absent is not None:
            return PingSessionObservation(client=absent, relayed=())
        start_s = self.lab.timeouts.start_s
        with ExitStack() as stack:
            if scenario.server:
                stack.enter_context(
                    steps.ready_helper(
                        context,
                        "peer.py",
                        {
                            "mode": "udp-echo",
                            "port": self.port,
                            "deadline_s": self._peer_deadline_s(),
                        },
                        "reference-udp-server",
                        steps.UPSTREAM_ALIAS,
                        start_s,
                    )
                )
                relay_options = {
                    "port": self.port,
                    "upstream_host": steps.UPSTREAM_ALIAS,
                    "upstream_port": self.port,
                    "plan": scenario.impairment.as_plan(),
                    "deadline_s": self._peer_deadline_s(),
                }
                front = stack.enter_context(
                    steps.ready_helper(
                        context, "relay.py", relay_options, "relay", steps.SERVER_ALIAS, start_s
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
                        context, "peer.py", closed, "no-server", steps.SERVER_ALIAS, start_s
                    )
                )
            env = {**steps.program_env(self.port, client=True), **dict(scenario.env)}
            with context.student_program(staged, client.file, env, None, "client") as program:
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
                context.student_program(
                    staged, server.file, server_env, steps.SERVER_ALIAS, "server"
                )
            )
            packets = stack.enter_context(self._maybe_capture(context, scenario, server_program))
            listen = steps.wait_for_listen(
                context, server_program, self.port, server.protocol, timeouts.start_s
            )
            client_run: ProgramRun | None = absent_client
            if absent_client is None and listen.reachable:
                with context.student_program(
                    staged,
                    client.file,
                    client_env,
                    None,
                    "client",
                    self._stdin_file(scenario.stdin),
                ) as client_program:
                    client_run = steps.finish_program(client_program, client.file, timeouts.run_s)
            if server.serves_forever:
                server_program.signal("SIGTERM")
            server_run = steps.finish_program(server_program, server.file, timeouts.exit_s)
            captured = self._finished(packets)
        return EndToEndObservation(
            server=server_run, listen=listen, client=client_run, capture=captured
        )
