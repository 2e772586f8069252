"""An earlier run that already shows what a later scenario would is reused, and says so.

The first part judges grader.scenarios.known's rule on hand-made observations (no Docker);
the second grades broken submissions for real, with and without reuse, and counts the
student's programs Docker started.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from grader.checks import check_kinds
from grader.checks.base import Verdict
from grader.packets.model import Conversation
from grader.plugin import captured_scenarios
from grader.sandbox import labels
from grader.sandbox.student_host import HOST_LABEL
from grader.sandbox.waiting import Poll
from grader.scenarios.known import Earlier, known_observation
from grader.scenarios.model import (
    Capture,
    ClientAlone,
    ClientPeerReport,
    ClientSession,
    ClientSessionObservation,
    Connection,
    EndToEnd,
    EndToEndObservation,
    Listener,
    ListenObservation,
    Observation,
    PingSession,
    PingSessionObservation,
    ProgramRun,
    RelayedDatagram,
    Reuse,
    Scenario,
    ServerPeerReport,
    ServerSession,
    ServerSessionObservation,
    UdpPeerReport,
    UdpServerSession,
    UdpServerSessionObservation,
)
from grader.scenarios.runner import DockerSubmissionRun
from grader.spec.loader import load_spec
from grader.spec.model import (
    DirectionImpairment,
    Impairment,
    ImpairmentRule,
    Input,
    LabSpec,
    ReferenceClient,
    ReferenceServer,
    ReferenceUdpClient,
)
from tests.submissions import LAB01, LAB02, LAB03, REPOSITORY, Broken

PORT = 20433
TRACEBACK = b"Traceback (most recent call last):\n"
CRASHED = ProgramRun(
    file="server.py",
    exit_code=1,
    stderr=TRACEBACK + b"OSError: [Errno 99] Cannot assign requested address\n",
)
NOTHING_LISTENS = ListenObservation(PORT, (), 0.0)
ON_LOOPBACK = ListenObservation(PORT, (Listener("127.0.0.1", PORT),), 0.1)
ON_ALL = ListenObservation(PORT, (Listener("0.0.0.0", PORT),), 0.1)
STILL_RUNNING = ProgramRun(file="server.py", timed_out=True)
REFUSED = Connection(
    connected=False, connect_error="ConnectionRefusedError", end="none", received=b""
)
CONNECTED = Connection(connected=True, connect_error=None, end="fin", received=b"x")
ECHO_LINE = ServerSession(ReferenceClient(send=Input(text=b"hello\n")))
THREE_CLIENTS = ServerSession(ReferenceClient(send=Input(text=b"x"), connections=3))
HELLO = Input(text=b"hello, echo\n")
CLIENT_REFUSED = ProgramRun(
    file="client.py",
    exit_code=1,
    stderr=TRACEBACK + b"ConnectionRefusedError: [Errno 111] Connection refused\n",
)
NOBODY_CAME = ServerPeerReport(
    accepted=False, received=b"", sent=b"", syn_ports=(), stopped="terminated"
)
PINGER = ProgramRun(file="client.py", exit_code=0, stdout=b"Request timed out: seq=1\n")
TEN_FAST = (("PING_COUNT", "10"), ("PING_TIMEOUT", "0.5"))
SEND_TWICE = ReferenceUdpClient(send=(Input(text=b"a"), Input(text=b"b")))
DROP_3 = Impairment(to_client=DirectionImpairment((ImpairmentRule("drop", match="^PING 3 "),)))


def earlier(scenario: Scenario, observation: Observation, captured: bool = False) -> Earlier:
    return Earlier(scenario, observation, captured)


def server_seen(
    run: ProgramRun, listen: ListenObservation, *connections: Connection
) -> ServerSessionObservation:
    peer = ClientPeerReport(connections=connections) if connections else None
    return ServerSessionObservation(server=run, listen=listen, peer=peer)


# --- servers ----------------------------------------------------------------------------


def test_a_server_that_crashed_before_listening_is_not_started_for_another_client() -> None:
    first = earlier(ServerSession(), server_seen(CRASHED, NOTHING_LISTENS))
    known = known_observation(ECHO_LINE, [first], captured=False)
    assert isinstance(known, ServerSessionObservation)
    assert (known.server, known.listen, known.peer) == (CRASHED, NOTHING_LISTENS, None)
    assert known.reused == Reuse("server.py", 1, "it could not be reached on SERVER_PORT")


def test_a_crashed_servers_run_answers_the_udp_and_end_to_end_scenarios_too() -> None:
    first = earlier(ServerSession(), server_seen(CRASHED, NOTHING_LISTENS))
    udp = known_observation(UdpServerSession(), [first], captured=False)
    assert isinstance(udp, UdpServerSessionObservation) and udp.server == CRASHED
    absent = ProgramRun(file="client.py", missing=True)
    both = known_observation(EndToEnd(), [first], captured=True, client_absent=absent)
    assert isinstance(both, EndToEndObservation)
    assert (both.server, both.client, both.capture) == (CRASHED, absent, None)


def test_a_server_bound_to_loopback_and_refused_throughout_is_not_started_again() -> None:
    first = earlier(ServerSession(), server_seen(STILL_RUNNING, ON_LOOPBACK, REFUSED))
    known = known_observation(THREE_CLIENTS, [first], captured=False)
    assert isinstance(known, ServerSessionObservation)
    assert known.listen == ON_LOOPBACK and known.peer is None and known.reused is not None


def test_a_server_no_client_tried_is_started_again() -> None:
    seen = replace(server_seen(STILL_RUNNING, ON_LOOPBACK), peer=ClientPeerReport(()))
    assert known_observation(ECHO_LINE, [earlier(ServerSession(), seen)], captured=False) is None


def test_a_server_some_client_connected_to_is_started_again() -> None:
    # It listened too late for the watcher but in time for the client: it can be reached.
    first = earlier(ServerSession(), server_seen(STILL_RUNNING, NOTHING_LISTENS, CONNECTED))
    assert known_observation(ECHO_LINE, [first], captured=False) is None


def test_a_server_that_listened_where_it_should_is_started_again() -> None:
    first = earlier(ServerSession(), server_seen(CRASHED, ON_ALL))
    assert known_observation(ECHO_LINE, [first], captured=False) is None


def test_a_udp_server_that_had_bound_nothing_yet_is_started_again() -> None:
    silent = UdpPeerReport(sent=(b"ping",), replies=(), stopped="reply timeout")
    nothing = ListenObservation(PORT, (), 10.0, "udp")
    seen = UdpServerSessionObservation(STILL_RUNNING, nothing, silent)
    assert (
        known_observation(UdpServerSession(), [earlier(ServerSession(), seen)], captured=False)
        is None
    )


def test_a_udp_server_bound_elsewhere_that_never_replied_is_not_started_again() -> None:
    silent = UdpPeerReport(sent=(b"ping",), replies=(), stopped="reply timeout")
    loopback = ListenObservation(PORT, (Listener("127.0.0.1", PORT),), 0.1, "udp")
    seen = UdpServerSessionObservation(STILL_RUNNING, loopback, silent)
    first = earlier(UdpServerSession(), seen)
    assert known_observation(UdpServerSession(SEND_TWICE), [first], captured=False) is not None
    replied = UdpServerSessionObservation(
        STILL_RUNNING, loopback, UdpPeerReport((b"ping",), (b"ping",), replies_total=1)
    )
    assert (
        known_observation(
            UdpServerSession(SEND_TWICE), [earlier(UdpServerSession(), replied)], captured=False
        )
        is None
    )


def test_a_tcp_client_refused_by_a_udp_server_proves_nothing_about_udp() -> None:
    loopback = ListenObservation(PORT, (Listener("127.0.0.1", PORT),), 0.1, "udp")
    first = earlier(ServerSession(), server_seen(STILL_RUNNING, loopback, REFUSED))
    assert known_observation(UdpServerSession(), [first], captured=False) is None


def test_a_scenario_whose_packets_are_judged_needs_a_captured_source() -> None:
    seen = server_seen(CRASHED, NOTHING_LISTENS)
    assert known_observation(ECHO_LINE, [earlier(ServerSession(), seen)], captured=True) is None
    capture = Capture(Path("/nonexistent.pcap"), Conversation((), (), ()))
    captured = ServerSessionObservation(CRASHED, NOTHING_LISTENS, None, capture)
    known = known_observation(ECHO_LINE, [earlier(ServerSession(), captured, True)], captured=True)
    assert isinstance(known, ServerSessionObservation) and known.capture == capture


def test_a_missing_program_is_no_source() -> None:
    missing = ProgramRun(file="server.py", missing=True)
    first = earlier(ServerSession(), server_seen(missing, NOTHING_LISTENS))
    assert known_observation(ECHO_LINE, [first], captured=False) is None


def test_the_mark_counts_the_runs_of_that_program_before_it() -> None:
    served = server_seen(CRASHED, ON_ALL)
    ran = [
        earlier(ClientSession(), ClientSessionObservation(PINGER, NOBODY_CAME, PORT)),
        earlier(ServerSession(), served),
        earlier(ECHO_LINE, server_seen(CRASHED, NOTHING_LISTENS)),
    ]
    known = known_observation(THREE_CLIENTS, ran, captured=False)
    assert known is not None and known.reused is not None
    assert known.reused.run == 2
    assert "second run of server.py" in known.reused.note
    assert "not started again" in known.reused.note


# --- clients ----------------------------------------------------------------------------


def test_a_client_that_never_reached_the_server_is_not_run_alone_with_the_same_input() -> None:
    seen = ClientSessionObservation(CLIENT_REFUSED, NOBODY_CAME, PORT)
    first = earlier(ClientSession(ReferenceServer(echo=True), stdin=HELLO), seen)
    known = known_observation(ClientAlone(stdin=HELLO), [first], captured=False)
    assert isinstance(known, ClientSessionObservation)
    assert (known.client, known.peer) == (CLIENT_REFUSED, NOBODY_CAME)
    assert known.reused == Reuse("client.py", 1, "no connection attempt of it reached SERVER_HOST")


def test_a_client_is_run_again_with_other_input() -> None:
    seen = ClientSessionObservation(CLIENT_REFUSED, NOBODY_CAME, PORT)
    first = earlier(ClientSession(stdin=HELLO), seen)
    assert known_observation(ClientAlone(stdin=None), [first], captured=False) is None


def test_a_client_whose_syn_reached_another_port_is_run_again() -> None:
    wrong_port = ServerPeerReport(accepted=False, received=b"", sent=b"", syn_ports=(65432,))
    first = earlier(ClientSession(), ClientSessionObservation(CLIENT_REFUSED, wrong_port, PORT))
    assert known_observation(ClientAlone(), [first], captured=False) is None


def test_a_client_the_server_accepted_is_run_again() -> None:
    accepted = ServerPeerReport(accepted=True, received=b"", sent=b"Hello", syn_ports=(PORT,))
    first = earlier(ClientSession(), ClientSessionObservation(PINGER, accepted, PORT))
    assert known_observation(ClientAlone(), [first], captured=False) is None


def ping(seen_datagrams: tuple[RelayedDatagram, ...] = ()) -> PingSessionObservation:
    return PingSessionObservation(client=PINGER, relayed=seen_datagrams)


def test_a_pinger_the_relay_never_heard_is_not_run_again_for_other_impairments() -> None:
    first = earlier(PingSession(env=TEN_FAST), ping())
    other = PingSession(impairment=DROP_3, env=TEN_FAST)
    known = known_observation(other, [first], captured=False)
    assert isinstance(known, PingSessionObservation) and known.client == PINGER
    assert known.reused == Reuse("client.py", 1, "none of its datagrams reached SERVER_HOST")
    assert known_observation(PingSession(server=False, env=TEN_FAST), [first], captured=False)


def test_a_pinger_is_run_again_with_another_environment() -> None:
    first = earlier(PingSession(env=TEN_FAST), ping())
    slower = PingSession(env=(("PING_COUNT", "10"), ("PING_TIMEOUT", "1")))
    assert known_observation(slower, [first], captured=False) is None


def test_a_pinger_that_reached_the_relay_or_ran_without_a_server_is_no_source() -> None:
    arrived = RelayedDatagram("to_server", 1, b"PING 1 2", 8, "forward", 0, "")
    reached = earlier(PingSession(env=TEN_FAST), ping((arrived,)))
    unknown = earlier(PingSession(server=False, env=TEN_FAST), ping())
    other = PingSession(impairment=DROP_3, env=TEN_FAST)
    assert known_observation(other, [reached], captured=False) is None
    assert known_observation(other, [unknown], captured=False) is None


# --- the note in the feedback -------------------------------------------------------------

ECHO_LAB = load_spec(REPOSITORY / "labs" / "02-tcp-echo" / "spec.yaml")


def judge(lab: LabSpec, check_id: str, observation: object) -> Verdict:
    check = next(check for check in lab.checks if check.id == check_id)
    return check_kinds()[check.kind].verdict(check.params, observation, lab)  # type: ignore[arg-type]


def test_a_reused_observation_gets_the_same_verdict_and_a_note() -> None:
    ran = server_seen(STILL_RUNNING, ON_LOOPBACK, REFUSED)
    first = earlier(ServerSession(), ran)
    known = known_observation(ECHO_LINE, [first], captured=False)
    assert known is not None and known.reused is not None
    fresh = judge(ECHO_LAB, "echo-line", server_seen(STILL_RUNNING, ON_LOOPBACK, REFUSED))
    reused = judge(ECHO_LAB, "echo-line", known)
    assert not reused.passed
    assert (reused.summary, reused.cause) == (fresh.summary, fresh.cause)
    assert reused.details == (*fresh.details, known.reused.note)


# --- real gradings ------------------------------------------------------------------------


@dataclass(frozen=True)
class Graded:
    """The verdicts of one submission's checks, and what was started to reach them."""

    verdicts: dict[str, Verdict]
    ran: tuple[Scenario, ...]
    programs_started: dict[str, int]
    """Runs of the student's programs, by role ("server", "client"): containers started for
    one program, and run_bounded.py started by exec in a StudentHost."""


def grade(
    client: Any, lab_id: str, submission: Path, *, reuse_known: bool, only: str = ""
) -> Graded:
    """Judges the lab's checks (those whose id starts with `only`) on a real run, in order.

    The student's containers are counted from a live subscription to Docker's events: the
    engine keeps only its last 256 events for later questions, fewer than a lab's run makes.
    """
    lab = load_spec(REPOSITORY / "labs" / lab_id / "spec.yaml")
    kinds = check_kinds()
    verdicts = {}
    run = DockerSubmissionRun(lab, submission, captured_scenarios(lab), reuse_known=reuse_known)
    events = client.events(
        decode=True,
        filters={
            "type": "container",
            "event": ["start", "destroy", "exec_start"],
            "label": f"{labels.RUN}={run.labels.run_id}",
        },
    )
    seen: list[dict[str, Any]] = []
    listener = threading.Thread(target=lambda: seen.extend(events), daemon=True)
    listener.start()
    try:
        with run:
            for check in lab.checks:
                if check.id.startswith(only):
                    kind = kinds[check.kind]
                    observed = run.observe(kind.scenario(check.params))
                    verdicts[check.id] = kind.verdict(check.params, observed, lab)
        # Every container of the run is removed on exit: once each start has its destroy,
        # the engine has sent all of them.
        assert Poll(30).until(lambda: True if all_destroyed(seen) else None)
    finally:
        events.close()
        listener.join(timeout=10)
    started: dict[str, int] = {}
    for event in seen:
        attributes = event.get("Actor", {}).get("Attributes", {})
        status = str(event.get("status", ""))
        hosted = status.startswith("exec_start") and "run_bounded" in status
        own = status == "start" and HOST_LABEL not in attributes
        if hosted or own:
            role = attributes.get("socketlab.role", "")
            started[role] = started.get(role, 0) + 1
    return Graded(verdicts, run.ran, started)


def all_destroyed(events: list[dict[str, Any]]) -> bool:
    ids = {
        status: {e.get("id") for e in list(events) if e.get("status") == status}
        for status in ("start", "destroy")
    }
    return bool(ids["start"]) and ids["start"] <= ids["destroy"]


def broken(lab: tuple[Broken, ...], name: str, parent: Path) -> Broken:
    entry = next(entry for entry in lab if entry.name == name)
    entry.materialize(parent)
    return entry


def words(verdict: Verdict) -> str:
    parts = (verdict.summary, verdict.expected, verdict.received, verdict.cause)
    return "\n".join([*filter(None, parts), *verdict.details, *verdict.diagram])


def without_note(verdict: Verdict) -> tuple[object, ...]:
    """What a verdict says, less the reuse note and the times a rerun measures anew."""
    details = tuple(line for line in verdict.details if "not started again" not in line)
    return (verdict.passed, verdict.summary, verdict.expected, verdict.cause, len(details))


CASES = [
    # A server bound to 127.0.0.1: refused throughout, still running (TCP, 9 server starts).
    ("02-tcp-echo", LAB02, "server-binds-localhost", "", "server", 1),
    # A UDP server that Python cannot compile: gone before the grader's client. Two runs: the
    # first scenario whose packets are judged needs a capture of its own.
    ("03-udp-ping", LAB03, "server-tab-error", "", "server", 2),
    # A pinger that sends to localhost: the relay never hears it. Two runs: the four ping
    # checks with a server share one env (PING_TIMEOUT 1.0), client-no-server has its own.
    ("03-udp-ping", LAB03, "client-hard-coded-localhost", "client-", "client", 2),
    # A TCP client that connects to localhost: one run, and one for the captured scenario.
    ("01-tcp-hello", LAB01, "client-connects-to-localhost", "client-", "client", 2),
]


@pytest.mark.docker
@pytest.mark.parametrize(
    ("lab_id", "catalogue", "name", "only", "role", "starts"),
    CASES,
    ids=[case[2] for case in CASES],
)
def test_what_an_earlier_run_showed_is_reused_with_the_same_verdicts(
    docker_ready: Any,
    tmp_path: Path,
    lab_id: str,
    catalogue: tuple[Broken, ...],
    name: str,
    only: str,
    role: str,
    starts: int,
) -> None:
    entry = broken(catalogue, name, tmp_path)
    submission = tmp_path / name
    fresh = grade(docker_ready, lab_id, submission, reuse_known=False, only=only)
    reused = grade(docker_ready, lab_id, submission, reuse_known=True, only=only)

    assert reused.programs_started[role] == starts
    assert fresh.programs_started[role] > starts
    assert len(reused.ran) < len(fresh.ran)
    failed = {check for check, verdict in reused.verdicts.items() if not verdict.passed}
    assert failed == {check for check in entry.fails if check.startswith(only)}
    assert failed == {check for check, verdict in fresh.verdicts.items() if not verdict.passed}
    for check, verdict in reused.verdicts.items():
        assert without_note(verdict) == without_note(fresh.verdicts[check]), check
    feedback = "\n".join(words(verdict) for verdict in reused.verdicts.values())
    for mention in entry.mentions:
        assert mention in feedback
    assert "not started again" in feedback
