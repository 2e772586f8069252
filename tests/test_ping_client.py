"""The pinger check when no ping reaches SERVER_HOST: what happened on the wire (no Docker)."""

from __future__ import annotations

from grader.checks import ping_client
from grader.checks.base import Verdict
from grader.scenarios.model import PingSessionObservation, ProgramRun, RelayedDatagram
from grader.spec.loader import load_spec
from tests.submissions import REPOSITORY

LAB = load_spec(REPOSITORY / "labs" / "03-udp-ping" / "spec.yaml")
TIMEOUTS = "".join(f"Request timed out: seq={seq}\n" for seq in range(1, 11))
SUMMARY = "10 packets transmitted, 0 received, 100.0% packet loss\n"


def judged(
    run: ProgramRun, relayed: tuple[RelayedDatagram, ...] = (), *, server: bool = True
) -> Verdict:
    params = ping_client.Params(server=server, count=10 if server else 4)
    return ping_client.judge(params, PingSessionObservation(client=run, relayed=relayed), LAB)


def test_a_client_pinging_another_host_is_told_no_datagram_reached_the_server() -> None:
    run = ProgramRun(file="client.py", exit_code=0, stdout=(TIMEOUTS + SUMMARY).encode())
    verdict = judged(run)
    assert verdict.summary == "no datagram from the client reached the server"
    assert "localhost or a hard-coded host" in str(verdict.cause)
    assert "Print one line per ping" not in str(verdict.cause)


def test_a_client_that_wants_arguments_is_told_to_read_the_environment() -> None:
    run = ProgramRun(file="client.py", exit_code=1, stderr=b"usage: client.py HOST PORT\n")
    verdict = judged(run)
    assert verdict.summary == "no datagram from the client reached the server"
    assert "no command-line arguments" in str(verdict.cause)
    assert any("usage: client.py HOST PORT" in line for line in verdict.details)
    alone = judged(run, server=False)
    assert alone.summary == "the client exited with status 1 before its first ping"
    assert "os.environ.get" in str(alone.cause)


def test_a_ping_that_reached_the_relay_is_judged_on_the_output() -> None:
    ping = RelayedDatagram("to_server", 1, b"PING 1 1764300000.25", 20, "forward", 0, "")
    run = ProgramRun(file="client.py", exit_code=0, stdout=(TIMEOUTS + SUMMARY).encode())
    verdict = judged(run, (ping,))
    assert verdict.summary == "seq=1 should get a reply"


def test_a_client_that_stops_for_another_reason_is_not_told_about_arguments() -> None:
    run = ProgramRun(
        file="client.py", exit_code=1, stderr=b"client: cannot resolve myserver: not known\n"
    )
    verdict = judged(run, server=False)
    assert verdict.summary == "the client exited with status 1 before its first ping"
    assert "command-line" not in str(verdict.cause)
    assert "SERVER_HOST" in str(verdict.cause)
