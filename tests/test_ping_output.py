"""The lab 03 pinger's output, read line by line: every line the contract allows, nothing else."""

from __future__ import annotations

from grader.checks.ping_output import parse


def test_every_line_of_the_contract_is_read() -> None:
    seen = parse(
        "Reply from server: seq=1 rtt=0.512 ms\n"
        "Request timed out: seq=2\n"
        "2 packets transmitted, 1 received, 50.0% packet loss\n"
        "rtt min/avg/max = 0.512/0.512/0.512 ms\n"
    )
    assert [(line.seq, line.replied) for line in seen.results] == [(1, True), (2, False)]
    assert (seen.sent, seen.received, seen.loss_percent) == (2, 1, 50.0)
    assert seen.rtt == (0.512, 0.512, 0.512)
    assert seen.unreadable == ()


def test_a_number_too_long_to_be_one_makes_its_line_unreadable_instead_of_raising() -> None:
    digits = "9" * 5000  # past Python's 4300-digit limit for int()
    seen = parse(
        f"Request timed out: seq={digits}\n"
        f"Reply from server: seq=1 rtt={digits}.5 ms\n"
        f"{digits} packets transmitted, 1 received, 0.0% packet loss\n"
        f"rtt min/avg/max = {digits}/1/1 ms\n"
    )
    assert seen.results == ()
    assert len(seen.unreadable) == 4
