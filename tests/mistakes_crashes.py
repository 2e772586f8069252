"""Broken submissions: programs Python could not run, or that crashed (issue 8: 4, 9, 10, 15)."""

from __future__ import annotations

from tests.broken import (
    ACCEPT_LOOP,
    CLIENT_PRINT_LINE,
    CLIENT_READ_LOOP,
    ECHO_LOOP,
    LAB01_CLIENT_CONNECT_CHECKS,
    LAB01_SERVER_CHECKS,
    LAB03_SERVER_CHECKS,
    SERVER_HOST_LINE,
    SERVER_SEND_LINE,
    UDP_ECHO_LINE,
    Broken,
    Edit,
)

LAB01_CLIENT_CHECKS = LAB01_CLIENT_CONNECT_CHECKS | {"client-no-server"}
LAB02_CLIENT_CHECKS = frozenset(
    {
        "client-half-close",
        "client-short-input",
        "client-8-mib",
        "client-empty-input",
        "client-no-server",
        "end-to-end",
    }
)
LAB03_CLIENT_CHECKS = frozenset(
    {"client-no-loss", "client-drops", "client-duplicate", "client-late-reply", "client-strays"}
    | {"client-no-server"}
)
CLIENT_HOST_LINE = 'HOST = os.environ.get("SERVER_HOST", "localhost")'
# An address no machine of the lab network has: bind() fails at once, and nothing is ever sent.
ABSENT_ADDRESS = "10.99.99.99"

LAB01: tuple[Broken, ...] = (
    Broken(
        "client-syntax-error",
        "01-tcp-hello",
        (Edit("client.py", CLIENT_HOST_LINE, CLIENT_HOST_LINE.removesuffix(")")),),
        fails=LAB01_CLIENT_CHECKS,
        mentions=("Python could not run client.py: SyntaxError", 'client.py", line 7', "^"),
    ),
    Broken(
        "server-indentation-error",
        "01-tcp-hello",
        (
            Edit(
                "server.py",
                "    conn, address = listener.accept()",
                "      conn, address = listener.accept()",
            ),
        ),
        fails=LAB01_SERVER_CHECKS | {"end-to-end"},
        mentions=("Python could not run server.py: IndentationError", "indentation"),
    ),
    Broken(
        "client-unknown-coding",
        "01-tcp-hello",
        (Edit("client.py", '"""Lab 01', '# -*- coding: ansi -*-\n"""Lab 01'),),
        fails=LAB01_CLIENT_CHECKS,
        mentions=("SyntaxError: encoding problem", "coding: utf-8"),
    ),
    Broken(
        "server-binds-absent-address",
        "01-tcp-hello",
        (Edit("server.py", SERVER_HOST_LINE, f'HOST = "{ABSENT_ADDRESS}"  # my laptop'),),
        fails=LAB01_SERVER_CHECKS | {"end-to-end"},
        mentions=("[Errno 99] Cannot assign requested address", "works at home", "'0.0.0.0'"),
    ),
    Broken(
        # The grader's client sends nothing before the greeting, so recv() on a non-blocking
        # socket fails at once, every time: EAGAIN, not the process limit.
        "server-non-blocking-recv",
        "01-tcp-hello",
        (
            Edit(
                "server.py",
                SERVER_SEND_LINE,
                "        conn.setblocking(False)\n"
                "        hello = conn.recv(1024)  # the mistake: no data is there yet\n"
                + SERVER_SEND_LINE,
            ),
        ),
        fails=frozenset({"server-greeting", "server-exit", "end-to-end"}),
        mentions=("BlockingIOError: [Errno 11]", "setblocking(False)"),
    ),
    Broken(
        # Once the server has closed, recv() returns b'' at once, every time: the loop prints
        # the same line without end. Printing forever is not waiting for data.
        "client-prints-forever",
        "01-tcp-hello",
        (
            Edit(
                "client.py",
                CLIENT_READ_LOOP,
                "        while True:  # the mistake: b'' (the server closed) never ends it\n"
                "            received += sock.recv(1024)\n"
                "            " + CLIENT_PRINT_LINE,
            ),
        ),
        fails=frozenset({"client-exit"}),
        mentions=("still printing", "again and again", "recv() returns b''"),
    ),
)

LAB02: tuple[Broken, ...] = (
    Broken(
        "client-python2-print",
        "02-tcp-echo",
        (
            Edit(
                "client.py",
                "data = sys.stdin.buffer.read()",
                'print "client: reading stdin"\ndata = sys.stdin.buffer.read()',
            ),
        ),
        fails=LAB02_CLIENT_CHECKS,
        mentions=("Python could not run client.py: SyntaxError", "Missing parentheses"),
    ),
    Broken(
        "client-saved-as-latin-1",
        "02-tcp-echo",
        (
            Edit(
                "client.py",
                "import os\n",
                "# Écho: the client, saved by an editor that does not write UTF-8\nimport os\n",
                encoding="latin-1",
            ),
        ),
        fails=LAB02_CLIENT_CHECKS,
        mentions=("SyntaxError: Non-UTF-8 code", "save it as UTF-8"),
    ),
    Broken(
        "client-reads-text-stdin",
        "02-tcp-echo",
        (Edit("client.py", "data = sys.stdin.buffer.read()", "data = sys.stdin.read().encode()"),),
        fails=frozenset({"client-8-mib"}),
        mentions=("UnicodeEncodeError", "surrogates not allowed", "sys.stdin.buffer.read()"),
    ),
    Broken(
        "server-decodes-strictly",
        "02-tcp-echo",
        (
            Edit(
                "server.py",
                ECHO_LOOP,
                ECHO_LOOP.replace("conn.sendall(data)", "conn.sendall(data.decode().encode())"),
            ),
        ),
        # Only the checks that send bytes that are not UTF-8 make it crash.
        fails=frozenset({"echo-8-mib", "echo-all-byte-values"}),
        mentions=("server.py crashed with UnicodeDecodeError", "without decoding"),
    ),
    Broken(
        # The same decode in a thread per client: the thread dies, the server goes on; its
        # traceback is the cause of the checks it failed, and the others pass.
        "server-thread-decodes-strictly",
        "02-tcp-echo",
        (
            Edit("server.py", "import sys\n", "import sys\nimport threading\n"),
            Edit(
                "server.py",
                ECHO_LOOP,
                ECHO_LOOP.replace("conn.sendall(data)", "conn.sendall(data.decode().encode())"),
            ),
            Edit(
                "server.py",
                ACCEPT_LOOP,
                "    while True:\n"
                "        conn, address = listener.accept()\n"
                "        threading.Thread(target=serve, args=(conn,), daemon=True).start()",
            ),
        ),
        fails=frozenset({"echo-8-mib", "echo-all-byte-values"}),
        mentions=("a thread of server.py (the program went on) crashed with UnicodeDecodeError",),
    ),
)

LAB03: tuple[Broken, ...] = (
    Broken(
        "client-syntax-error",
        "03-udp-ping",
        (
            Edit(
                "client.py",
                'print(f"Request timed out: seq={seq}")',
                'print(f"Request timed out: seq={seq}"))',
            ),
        ),
        fails=LAB03_CLIENT_CHECKS,
        mentions=("Python could not run client.py: SyntaxError: unmatched ')'",),
    ),
    Broken(
        "server-tab-error",
        "03-udp-ping",
        (Edit("server.py", UDP_ECHO_LINE, "\t" + UDP_ECHO_LINE.lstrip(" ")),),
        fails=LAB03_SERVER_CHECKS,
        mentions=("Python could not run server.py: TabError", "spaces only"),
    ),
    Broken(
        "server-binds-absent-address",
        "03-udp-ping",
        (Edit("server.py", SERVER_HOST_LINE, f'HOST = "{ABSENT_ADDRESS}"  # my laptop'),),
        fails=LAB03_SERVER_CHECKS,
        mentions=("[Errno 99] Cannot assign requested address", "works at home"),
    ),
)
