"""Echo and datagram checks name a flood, a slow echo and a connection nothing accepted.

The observations are made by hand, as the bounded peers report them; no Docker is needed.
"""

from __future__ import annotations

from grader.checks import check_kinds
from grader.checks.base import Verdict
from grader.checks.diagnosis import elided
from grader.scenarios.model import (
    ClientPeerReport,
    Connection,
    Listener,
    ListenObservation,
    ProgramRun,
    ServerSessionObservation,
    UdpPeerReport,
    UdpServerSessionObservation,
)
from grader.spec.loader import load_spec
from tests.submissions import REPOSITORY

LAB02 = load_spec(REPOSITORY / "labs" / "02-tcp-echo" / "spec.yaml")
LAB03 = load_spec(REPOSITORY / "labs" / "03-udp-ping" / "spec.yaml")
MIB = 1 << 20


def judge(lab: object, check_id: str, observation: object) -> Verdict:
    spec = LAB02 if lab == 2 else LAB03
    check = next(check for check in spec.checks if check.id == check_id)
    return check_kinds()[check.kind].verdict(check.params, observation, spec)  # type: ignore[arg-type]


def echoed(connection: Connection) -> ServerSessionObservation:
    listen = ListenObservation(50433, (Listener("0.0.0.0", 50433),), 0.1)
    return ServerSessionObservation(
        server=ProgramRun(file="server.py", exit_code=0),
        listen=listen,
        peer=ClientPeerReport(connections=(connection,)),
    )


def connection(**fields: object) -> Connection:
    defaults: dict[str, object] = {
        "connected": True,
        "connect_error": None,
        "end": "timeout",
        "received": b"",
        "sent_bytes": 8 * MIB,
        "delivered_bytes": 8 * MIB,
        "sent_sha256": "sent",
        "received_sha256": "received",
        "elapsed_s": 30.0,
    }
    return Connection(**(defaults | fields))  # type: ignore[arg-type]


def test_echo_check_names_a_server_that_kept_sending_after_the_echo() -> None:
    flood = connection(
        end="flood",
        sent_bytes=12,
        delivered_bytes=12,
        received=b"hello, echo\n" * 4,
        received_bytes=12 + MIB + 5,
        first_difference=12,
        elapsed_s=0.4,
    )
    verdict = judge(2, "echo-line", echoed(flood))
    assert not verdict.passed
    assert "kept sending after the echo was complete" in verdict.summary
    assert f"({MIB + 5} bytes more than it received)" in verdict.summary


def test_echo_check_calls_a_slow_flood_a_flood_too() -> None:
    slow_flood = connection(
        sent_bytes=1, delivered_bytes=1, received_bytes=300_000, first_difference=1
    )
    verdict = judge(2, "echo-one-byte", echoed(slow_flood))
    assert "kept sending after the echo was complete" in verdict.summary


def test_echo_check_gives_the_rate_of_a_slow_echo_and_the_time_allowed() -> None:
    slow = connection(received_bytes=600 * 1024, first_difference=600 * 1024, idle_s=0.05)
    verdict = judge(2, "echo-8-mib", echoed(slow))
    assert verdict.summary == (
        "the client: your server echoed 600 KiB of 8 MiB in 30 s, at 20 KiB/s;"
        " the check allows 30 s"
    )
    assert verdict.cause is not None and "about 410 s" in verdict.cause


def test_echo_check_says_nothing_accepted_a_connection_that_got_nothing_back() -> None:
    unaccepted = connection(received_bytes=0, delivered_bytes=731 * 1024, first_difference=0)
    verdict = judge(2, "echo-8-mib", echoed(unaccepted))
    assert "nothing accepted the connection" in verdict.summary
    assert verdict.received == "nothing (it took 731 KiB of 8 MiB and then nothing more)"
    assert verdict.cause is not None and "kernel completes the handshake" in verdict.cause


def test_datagram_check_counts_the_replies_to_one_datagram() -> None:
    ping = b"PING 1 1764300000.25"
    peer = UdpPeerReport(sent=(ping,), replies=(ping,) * 300, replies_total=1001, stopped="flood")
    listen = ListenObservation(50434, (Listener("0.0.0.0", 50434),), 0.1, "udp")
    seen = UdpServerSessionObservation(
        server=ProgramRun(file="server.py", exit_code=0), listen=listen, peer=peer
    )
    verdict = judge(3, "echo-exact", seen)
    assert verdict.summary == "your server answered one datagram with 1001 replies"


def test_long_lists_in_feedback_are_elided_in_the_middle() -> None:
    text = elided([str(n) for n in range(10_000)])
    assert text.startswith("0, 1, 2, 3, 4, 5, ... (9988 more) ..., 9994")
    assert len(text) < 100


def test_echo_check_passes_a_whole_echo_whose_connection_was_never_closed() -> None:
    whole = connection(
        sent_bytes=1, delivered_bytes=1, received=b"x", received_bytes=1, received_sha256="sent"
    )
    assert judge(2, "echo-one-byte", echoed(whole)).passed


def test_the_check_that_requires_the_close_names_a_server_that_never_closed() -> None:
    whole = connection(
        sent_bytes=12,
        delivered_bytes=12,
        received=b"hello, echo\n",
        received_bytes=12,
        received_sha256="sent",
        idle_s=5.0,
    )
    verdict = judge(2, "echo-line", echoed(whole))
    assert not verdict.passed
    assert "never closed the connection after the client's FIN" in verdict.summary
    assert verdict.cause is not None and "conn.close()" in verdict.cause


def test_echo_check_names_an_added_newline() -> None:
    added = connection(
        end="fin",
        sent_bytes=12,
        delivered_bytes=12,
        received=b"hello, echo\n\n",
        received_bytes=13,
        first_difference=12,
    )
    verdict = judge(2, "echo-line", echoed(added))
    assert verdict.cause is not None and "A newline was added" in verdict.cause
    assert "first difference at byte 12" in (verdict.received or "")


def test_sigterm_check_fails_a_server_that_had_already_exited() -> None:
    whole = connection(end="fin", received_sha256="sent")
    seen = echoed(whole)
    seen = ServerSessionObservation(
        server=ProgramRun(file="server.py", exit_code=0, ended_before_sigterm=True),
        listen=seen.listen,
        peer=seen.peer,
    )
    verdict = judge(2, "sigterm-exit", seen)
    assert not verdict.passed
    assert "had already exited (status 0) before the grader's SIGTERM reached it" in verdict.summary


def test_a_server_that_ended_after_one_client_is_judged_alike_whether_refused_or_reset() -> None:
    """The next client is refused, or reset when it came while the listening socket was still
    open: a race of the server's last moments. Both get one summary, so the feedback does
    not depend on the timing (nor on the backend)."""
    served = connection(end="fin", sent_bytes=13, received=b"next, please\n", received_bytes=13)
    served = Connection(**{**served.__dict__, "received_sha256": served.sent_sha256})
    refused = connection(connected=False, connect_error="[Errno 111] Connection refused",
                         end="none", sent_bytes=0)  # fmt: skip
    reset = connection(end="rst", sent_bytes=13, received_bytes=0)
    summaries = set()
    for second in (refused, reset):
        seen = ServerSessionObservation(
            server=ProgramRun(file="server.py", exit_code=0, ended_before_sigterm=True),
            listen=ListenObservation(50433, (Listener("0.0.0.0", 50433),), 0.1),
            peer=ClientPeerReport(connections=(served, second, second)),
        )
        verdict = judge(2, "three-clients", seen)
        assert not verdict.passed
        assert verdict.cause is not None and "loop around accept()" in verdict.cause
        summaries.add(verdict.summary)
    assert summaries == {"client 2 of 3 was not served: the server had ended"}
