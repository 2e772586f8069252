"""Pairing a UDP server's replies with its datagrams, and naming each mismatch (no Docker)."""

from __future__ import annotations

from grader.checks.byte_causes import first_difference
from grader.checks.udp_replies import Pairing, pair_replies, window


def kinds(requests: list[bytes], replies: list[bytes]) -> list[str]:
    return [pairing.kind for pairing in pair_replies(requests, replies)]


def test_every_datagram_echoed_once_is_all_echoed() -> None:
    assert kinds([b"a1", b"b2", b""], [b"a1", b"b2", b""]) == ["echoed"] * 3


def test_an_empty_datagram_with_no_reply_is_missing_not_merged() -> None:
    assert pair_replies([b""], []) == (Pairing("missing", (0,), ()),)
    assert kinds([b"", b"after"], [b"after"]) == ["missing", "echoed"]


def test_a_datagram_skipped_in_the_middle_is_missing() -> None:
    assert kinds([b"one", b"two", b"three"], [b"one", b"three"]) == [
        "echoed",
        "missing",
        "echoed",
    ]


def test_a_reply_sent_twice_is_extra() -> None:
    assert kinds([b"one", b"two"], [b"one", b"one", b"two", b"two"]) == [
        "echoed",
        "extra",
        "echoed",
        "extra",
    ]


def test_replies_beyond_the_datagrams_are_extra() -> None:
    assert kinds([b"x"], [b"x"] * 5) == ["echoed"] + ["extra"] * 4


def test_two_datagrams_in_one_reply_are_merged() -> None:
    assert pair_replies([b"one", b"two"], [b"onetwo"]) == (Pairing("merged", (0, 1), (0,)),)


def test_one_datagram_in_several_replies_is_split() -> None:
    assert pair_replies([b"first", b"second"], [b"fir", b"st", b"second"]) == (
        Pairing("split", (0,), (0, 1)),
        Pairing("echoed", (1,), (2,)),
    )


def test_the_first_part_alone_is_truncated() -> None:
    big = bytes(range(256)) * 32
    assert pair_replies([big], [big[:2048]]) == (Pairing("truncated", (0,), (0,)),)


def test_other_bytes_are_changed() -> None:
    assert kinds([b"Ping mixed Case"], [b"PING MIXED CASE"]) == ["changed"]
    assert kinds([b"abc"], [b""]) == ["changed"]
    assert kinds([b""], [b"\n"]) == ["changed"]


def test_first_difference_and_its_window() -> None:
    sent = b"0123456789abcdefghij"
    assert first_difference(sent, sent) is None
    assert first_difference(sent, sent[:5]) == 5
    assert first_difference(sent, sent.upper()) == 10
    assert window(sent, 10, around=3) == "...b'789abc'..."
    assert window(sent, 0, around=3) == "b'012'..."
