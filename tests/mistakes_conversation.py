"""Broken submissions: the half-close, what a client sent and printed, and the ladder's flows."""

from __future__ import annotations

from tests.broken import LAB03_BOUNDARY_CHECKS, UDP_ECHO_LINE, Broken, Edit

LAB02_SHUTDOWN_LINE = "    sock.shutdown(socket.SHUT_WR)"
LAB02_READ_LOOP = "    while chunk := sock.recv(65536):\n        sys.stdout.buffer.write(chunk)"

LAB01: tuple[Broken, ...] = ()

LAB02: tuple[Broken, ...] = (
    Broken(
        "client-closes-instead-of-half-close",
        "02-tcp-echo",
        (Edit("client.py", LAB02_SHUTDOWN_LINE, "    sock.close()"),),
        fails=frozenset(
            {
                "client-half-close",
                "client-short-input",
                "client-8-mib",
                "client-empty-input",
                "end-to-end",
            }
        ),
        mentions=("Bad file descriptor", "shutdown(socket.SHUT_WR) instead"),
    ),
    Broken(
        "client-closes-without-reading",
        "02-tcp-echo",
        (
            Edit("client.py", LAB02_SHUTDOWN_LINE, "    sock.close()"),
            Edit("client.py", LAB02_READ_LOOP, "    pass"),
        ),
        fails=frozenset({"client-half-close", "client-short-input", "client-8-mib", "end-to-end"}),
        mentions=(
            "wrote nothing on stdout",
            "close() ends both directions",
            "what the client sent to the server (12 bytes): b'hello, echo\\n'",
        ),
    ),
    Broken(
        "client-gives-up-waiting-for-the-echo",
        "02-tcp-echo",
        (
            Edit("client.py", LAB02_SHUTDOWN_LINE, "    sock.settimeout(3)"),
            Edit(
                "client.py",
                LAB02_READ_LOOP,
                "    try:\n"
                "        while chunk := sock.recv(65536):\n"
                "            sys.stdout.buffer.write(chunk)\n"
                "    except TimeoutError:\n"
                "        pass",
            ),
        ),
        fails=frozenset({"client-half-close", "client-short-input", "client-8-mib"}),
        mentions=("sends the echo after the client's FIN", "sock.shutdown(socket.SHUT_WR)"),
    ),
    Broken(
        "client-single-recv",
        "02-tcp-echo",
        (Edit("client.py", LAB02_READ_LOOP, "    sys.stdout.buffer.write(sock.recv(65536))"),),
        fails=frozenset({"client-8-mib"}),
        mentions=("one recv()", "first difference from the client's input at offset"),
    ),
    Broken(
        "client-sends-first-line-only",
        "02-tcp-echo",
        (
            Edit(
                "client.py",
                "data = sys.stdin.buffer.read()",
                "data = sys.stdin.buffer.readline()",
            ),
        ),
        fails=frozenset({"client-8-mib"}),
        mentions=("did not send exactly its input", "sys.stdin.buffer.read()", "offset"),
    ),
)

LAB03: tuple[Broken, ...] = (
    Broken(
        "server-replies-to-first-client-only",
        "03-udp-ping",
        (
            Edit(
                "server.py",
                UDP_ECHO_LINE,
                "        first = globals().setdefault('first', address)\n"
                "        sock.sendto(data, first)",
            ),
        ),
        fails=frozenset({"three-clients"}),
        mentions=("client 2 (UDP)", "client 3 (UDP)"),
    ),
    Broken(
        "server-replies-from-another-socket",
        "03-udp-ping",
        (
            Edit(
                "server.py",
                UDP_ECHO_LINE,
                "        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:\n"
                "            out.sendto(data, address)",
            ),
        ),
        fails=LAB03_BOUNDARY_CHECKS,
        mentions=("client 1 (UDP)", "came from another port"),
    ),
)
