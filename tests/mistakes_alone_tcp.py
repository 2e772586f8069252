"""Broken submissions that fail one check each: for the checks of labs 01 and 02."""

from __future__ import annotations

from tests.broken import ECHO_LOOP, Broken, Edit

LAB01: tuple[Broken, ...] = ()

# The lab 02 client's read of stdin, which the empty-input mistakes follow.
READS_STDIN = "data = sys.stdin.buffer.read()\n"
WRITES_ECHO = "        sys.stdout.buffer.write(chunk)\n"


def buffered_echo(send: str) -> str:
    """A serve() loop that reads the whole request, until the client's FIN, then runs `send`.

    Echoing after the FIN, as the grader's own echo server does, passes every echo check; the
    mistakes below are in `send` only.
    """
    return (
        "        request = bytearray()\n"
        "        while data := conn.recv(65536):\n"
        "            request += data\n" + send
    )


LAB02: tuple[Broken, ...] = (
    Broken(
        # A piece of two bytes or fewer (b"\r\n" or b"\n", an empty line typed into telnet
        # or nc) taken as the end of the session, after echoing it: only a stream sent one
        # byte at a time has such a piece before its end.
        "server-stops-at-short-piece",
        "02-tcp-echo",
        (
            Edit(
                "server.py",
                ECHO_LOOP,
                ECHO_LOOP + "\n            if len(data) <= 2:  # the mistake: an empty line\n"
                "                break",
            ),
        ),
        fails=frozenset({"echo-slow-pieces"}),
        mentions=("18 bytes back", "until it returns b''"),
    ),
    Broken(
        # The whole request sent back in blocks, with an off-by-one in the loop's bound: the
        # last block is lost when it starts at the last byte, so a 1-byte request gets nothing
        # back (no other request's length is 1 more than a multiple of 65536).
        "server-block-loop-off-by-one",
        "02-tcp-echo",
        (
            Edit(
                "server.py",
                ECHO_LOOP,
                buffered_echo(
                    "        for start in range(0, len(request) - 1, 65536):  # the mistake\n"
                    "            conn.sendall(request[start : start + 65536])"
                ),
            ),
        ),
        fails=frozenset({"echo-one-byte"}),
        mentions=(
            "1 byte back",
            "received: 0 bytes",
            "Nothing came back before the connection closed",
        ),
    ),
    Broken(
        # Short requests are printed as text for the server's log before the echo: decode()
        # fails on the bytes that are not UTF-8, and the 8 MiB request is too long to be logged.
        "server-logs-short-requests-as-text",
        "02-tcp-echo",
        (
            Edit(
                "server.py",
                ECHO_LOOP,
                buffered_echo(
                    "        if len(request) <= 1024:  # the mistake: bytes logged as text\n"
                    '            print(f"echo: {request.decode()}")\n'
                    "        conn.sendall(request)"
                ),
            ),
        ),
        fails=frozenset({"echo-all-byte-values"}),
        mentions=("UnicodeDecodeError", "decode()"),
    ),
    Broken(
        # Empty input taken for an error: sys.exit() with a message prints it on stderr and
        # exits with status 1, where the lab asks for empty output and status 0.
        "client-exits-1-on-empty-input",
        "02-tcp-echo",
        (
            Edit(
                "client.py",
                READS_STDIN,
                READS_STDIN + 'if not data:\n    sys.exit("client: nothing to send")\n',
            ),
        ),
        fails=frozenset({"client-empty-input"}),
        mentions=("client: nothing to send", "before it tried to connect"),
    ),
    Broken(
        # A note printed on stdout when nothing came back: the empty echo of empty input.
        "client-notes-empty-echo",
        "02-tcp-echo",
        (
            Edit("client.py", "with sock:\n", "echoed = 0\nwith sock:\n"),
            Edit("client.py", WRITES_ECHO, WRITES_ECHO + "        echoed += len(chunk)\n"),
            Edit(
                "client.py",
                "sys.stdout.buffer.flush()",
                "if not echoed:  # the mistake: a note on stdout, where only the echo belongs\n"
                '    print("(the server sent nothing back)")\n'
                "sys.stdout.buffer.flush()",
            ),
        ),
        fails=frozenset({"client-empty-input"}),
        mentions=("(the server sent nothing back)", "write any message of your own to stderr"),
    ),
)

LAB03: tuple[Broken, ...] = ()
