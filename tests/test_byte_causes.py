"""The cause named for bytes that differ is the same wherever the same mistake shows."""

from __future__ import annotations

from grader.checks.byte_causes import byte_cause, difference_window, first_difference

LINE = b"hello, echo\n"


def test_a_newline_added_by_print_is_named_for_a_client() -> None:
    cause = byte_cause(LINE, LINE + b"\n", len(LINE) + 1, "client")
    assert cause is not None and "print() adds a newline" in cause


def test_a_newline_added_from_the_sizes_alone_when_the_bytes_were_not_kept() -> None:
    cause = byte_cause(LINE * 1000, b"", len(LINE) * 1000 + 1, "client")
    assert cause is not None and "print() adds a newline" in cause


def test_a_newline_added_after_a_piece_in_the_middle_is_named_for_a_server() -> None:
    sent = b"abcdefgh" * 8
    received = sent[:20] + b"\n" + sent[20:]
    cause = byte_cause(sent, received, len(received), "server")
    assert cause is not None and "A newline was added" in cause


def test_decoded_binary_data_is_named() -> None:
    sent = bytes(range(256))
    received = sent.decode("utf-8", "replace").encode()
    cause = byte_cause(sent, received, len(received), "server")
    assert cause is not None and "decod" in cause


def test_a_missing_end_is_a_partial_read() -> None:
    cause = byte_cause(LINE, LINE[:4], 4, "server")
    assert cause is not None and "recv()" in cause


def test_unknown_differences_have_no_cause() -> None:
    assert byte_cause(LINE, b"jello, echo\n", len(LINE), "server") is None


def test_the_window_shows_both_sides_of_the_first_difference() -> None:
    received = b"hello, Echo\n"
    offset = first_difference(LINE, received)
    assert offset == 7
    lines = difference_window(LINE, received, offset)
    assert "b'hello, echo\\n'" in lines[0] and "b'hello, Echo\\n'" in lines[1]
