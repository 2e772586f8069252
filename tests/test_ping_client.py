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


def ping(seq: int, at_s: float) -> RelayedDatagram:
    payload = f"PING {seq} 1764300000.25".encode()
    return RelayedDatagram("to_server", seq, payload, len(payload), "forward", 0, "", at_s=at_s)


def strays_after(seq: int, at_s: float) -> RelayedDatagram:
    """The reply to `seq`, then 60 copies of it, one every 100 ms."""
    payload = f"PING {seq} 1764300000.25".encode()
    return RelayedDatagram(
        "to_client", seq, payload, len(payload), "duplicate", 0, "", 60, 100, at_s
    )


STRAYS = next(check for check in LAB.checks if check.id == "client-strays")


def strays_judged(ping_times: list[float], timeouts: tuple[int, ...] = (2, 4)) -> Verdict:
    """client-strays for a client whose pings reached the relay at these times, and that
    printed a timeout for the seqs in `timeouts` and a reply for the others."""
    params = STRAYS.params
    assert isinstance(params, ping_client.Params)
    relayed = (*(ping(seq, at) for seq, at in enumerate(ping_times, 1)),)
    relayed += (strays_after(3, ping_times[2] + 0.001),)
    lines = "".join(
        f"Request timed out: seq={seq}\n"
        if seq in timeouts
        else f"Reply from server: seq={seq} rtt=1.0 ms\n"
        for seq in range(1, len(ping_times) + 1)
    )
    run = ProgramRun(file="client.py", exit_code=0, stdout=lines.encode())
    return ping_client.judge(params, PingSessionObservation(client=run, relayed=relayed), LAB)


def test_strays_that_restart_the_timeout_fail_client_strays() -> None:
    # seq 2 given up after 1 s with nothing arriving; seq 4 after 7 s, strays all the while.
    verdict = strays_judged([0.0, 0.01, 1.02, 1.03, 8.0, 8.01, 8.02])
    assert not verdict.passed
    assert "seq=4" in verdict.summary
    assert "3 s" not in str(verdict.received) and "stray copies" in str(verdict.received)
    assert "what is left" in str(verdict.cause)


def test_a_client_giving_up_on_time_despite_strays_passes_client_strays() -> None:
    assert strays_judged([0.0, 0.01, 1.02, 1.03, 2.05, 2.06, 2.47]).passed


def test_a_long_timeout_of_its_own_is_not_client_strays_point() -> None:
    # It waits 3 s for every reply, with strays or not: client-no-server judges that.
    assert strays_judged([0.0, 0.01, 3.02, 3.03, 6.05, 6.06, 6.47]).passed


def test_a_client_taking_a_stray_for_its_reply_is_not_client_strays_point() -> None:
    # It took the first stray (0.3 s after reply 3) for seq 4: client-late-reply's point.
    assert strays_judged([0.0, 0.01, 1.02, 1.03, 1.33, 1.34, 1.64]).passed


def test_a_client_giving_a_ping_up_at_a_stray_fails_client_strays() -> None:
    # Seq 4 given up at the first stray (0.1 s), seq 6 too, although its reply came in 0.4 s.
    verdict = strays_judged([0.0, 0.01, 1.02, 1.03, 1.13, 1.14, 1.24], timeouts=(2, 4, 6))
    assert not verdict.passed
    assert verdict.summary == "the client gave seq=6 up after 0.1 s, before PING_TIMEOUT = 1 s"
    assert "A datagram that is not the reply ends nothing" in str(verdict.cause)


def test_a_give_up_is_seen_also_when_the_strays_came_late_in_a_burst() -> None:
    # A relay held off the CPU sends the due copies at once: the client reads one that came
    # before ping 5 while it waits for seq 5. The copies' schedule puts none in that wait.
    verdict = strays_judged([0.0, 0.01, 1.02, 1.03, 1.6, 1.61, 1.62], timeouts=(2, 4, 5))
    assert not verdict.passed
    assert "gave seq=5 up" in verdict.summary
    assert "A datagram that is not the reply ends nothing" in str(verdict.cause)


def test_a_timeout_too_short_of_its_own_is_told_to_read_ping_timeout() -> None:
    # A timeout of 0.2 s of its own, and no stray anywhere: seq 6's reply was held 0.4 s.
    params = STRAYS.params
    assert isinstance(params, ping_client.Params)
    times = [0.0, 0.01, 0.21, 0.22, 0.42, 0.43, 0.63]
    relayed = tuple(ping(seq, at) for seq, at in enumerate(times, 1))
    lines = "".join(
        f"Request timed out: seq={seq}\n"
        if seq in (2, 4, 6)
        else f"Reply from s: seq={seq} rtt=1.0 ms\n"
        for seq in range(1, 8)
    )
    run = ProgramRun(file="client.py", exit_code=0, stdout=lines.encode())
    seen = PingSessionObservation(client=run, relayed=relayed)
    verdict = ping_client.judge(params, seen, LAB)
    assert verdict.summary == "the client gave seq=6 up after 0.2 s, before PING_TIMEOUT = 1 s"
    assert "os.environ.get('PING_TIMEOUT'" in str(verdict.cause)


def test_a_loaded_client_timing_a_held_reply_out_is_not_a_give_up() -> None:
    # Held off the CPU, it saw seq 6's reply only after its whole PING_TIMEOUT.
    assert strays_judged([0.0, 0.01, 1.02, 1.03, 2.05, 2.06, 3.1], timeouts=(2, 4, 6)).passed
