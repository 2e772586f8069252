"""Broken submissions: one mistake costs one check (issue 8: 2, 3, 5, 17)."""

from __future__ import annotations

from tests.broken import (
    ACCEPT_LOOP,
    CLIENT_PRINT_LINE,
    ECHO_LOOP,
    UDP_ECHO_LINE,
    Broken,
    Edit,
)

LAB01: tuple[Broken, ...] = (
    Broken(
        # The right line, then a crash: only the exit is wrong.
        "client-crashes-after-printing",
        "01-tcp-hello",
        (Edit("client.py", CLIENT_PRINT_LINE, CLIENT_PRINT_LINE + '\ninput("Press Enter")'),),
        fails=frozenset({"client-exit"}),
        mentions=("EOFError", "status 1"),
    ),
    Broken(
        # The whole greeting, read by a right loop, in a line of the wrong format.
        "client-prints-other-format",
        "01-tcp-hello",
        (Edit("client.py", "Received from server: {", "Received: {"),),
        fails=frozenset({"client-greeting"}),
        mentions=("'Received: Hello, Client!", "exactly the line"),
    ),
    Broken(
        # It stops as soon as a client knocks, before accept(): status 0, nobody served.
        "server-exits-before-accept",
        "01-tcp-hello",
        (
            Edit(
                "server.py",
                "    conn, address = listener.accept()",
                "    import select\n"
                "    select.select([listener], [], [])\n"
                "    raise SystemExit(0)  # the mistake: the program ends before accept()\n"
                "    conn, address = listener.accept()",
            ),
        ),
        fails=frozenset({"server-greeting", "server-close", "server-exit", "end-to-end"}),
        mentions=("exited without serving its client",),
    ),
)

LAB02: tuple[Broken, ...] = (
    Broken(
        # Every byte back, but the connection stays open after the client's FIN: the close
        # is one check's point, the bytes are the others'.
        "server-never-closes",
        "02-tcp-echo",
        (
            Edit("server.py", "HOST = ", "KEPT = []\nHOST = "),
            Edit(
                "server.py",
                "    with conn:\n" + ECHO_LOOP,
                "    KEPT.append(conn)  # the mistake: never closed\n"
                "    while data := conn.recv(65536):\n"
                "        conn.sendall(data)",
            ),
        ),
        fails=frozenset({"echo-line"}),
        mentions=("never closed the connection after the client's FIN", "conn.close()"),
    ),
    Broken(
        # The starter's shape with its first TODO undone: one client, then it ends by itself,
        # so SIGTERM finds nothing to stop.
        "server-ends-after-one-client",
        "02-tcp-echo",
        (
            Edit("server.py", "signal.signal(signal.SIGTERM, stop)\n", ""),
            Edit(
                "server.py", ACCEPT_LOOP, "    conn, address = listener.accept()\n    serve(conn)"
            ),
        ),
        fails=frozenset({"three-clients", "survives-reset", "sigterm-exit"}),
        mentions=("had already exited (status 0) before the grader's SIGTERM reached it",),
    ),
    Broken(
        # A fixed number of clients: the reset and the next one fit in it, a third does not.
        "server-serves-two-clients",
        "02-tcp-echo",
        (
            Edit(
                "server.py",
                ACCEPT_LOOP,
                ACCEPT_LOOP.replace("    while True:", "    for _ in range(2):  # the mistake", 1),
            ),
        ),
        fails=frozenset({"three-clients"}),
        mentions=("client 3 of 3",),
    ),
    Broken(
        # print() of the decoded echo: a newline added, seen by every check that compares
        # the client's stdout with its input, with the same cause everywhere.
        "client-prints-echo",
        "02-tcp-echo",
        (
            Edit(
                "client.py",
                "        sys.stdout.buffer.write(chunk)",
                '        print(chunk.decode(), end="")\nprint()',
            ),
        ),
        fails=frozenset({"client-short-input", "client-8-mib", "client-empty-input", "end-to-end"}),
        mentions=("print() adds a newline",),
    ),
)

LAB03: tuple[Broken, ...] = (
    Broken(
        # One datagram answered, then the program ends by itself, before SIGTERM.
        "server-ends-after-one-datagram",
        "03-udp-ping",
        (Edit("server.py", UDP_ECHO_LINE, UDP_ECHO_LINE + "\n        break  # the mistake"),),
        fails=frozenset({"back-to-back", "three-clients", "sigterm-exit"}),
        mentions=("had already exited (status 0) before the grader's SIGTERM reached it",),
    ),
)
