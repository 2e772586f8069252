"""Broken submissions: the reference solution with one deliberate mistake each.

Each entry names the mistake, the edit that makes it (old text -> new text in one file of the
solution), the exact set of checks it must fail, and words its feedback must contain. A
grading check that no entry here fails could never fail, so every check id appears at least
once in some `fails` set (a test enforces it).
"""

from __future__ import annotations

from tests import (
    mistakes_alone_tcp,
    mistakes_alone_udp,
    mistakes_conversation,
    mistakes_crashes,
    mistakes_layout,
    mistakes_one_check,
    mistakes_server,
    mistakes_udp,
)
from tests.broken import (
    ACCEPT_LOOP,
    CLIENT_PRINT_LINE,
    CLIENT_READ_LOOP,
    ECHO_LOOP,
    LAB01_CLIENT_CONNECT_CHECKS,
    LAB01_SERVER_CHECKS,
    LAB02_SERVER_ECHO_CHECKS,
    LAB03_BOUNDARY_CHECKS,
    LAB03_SERVER_CHECKS,
    PING_SUMMARY,
    REPOSITORY,
    SERVER_HOST_LINE,
    SERVER_PORT_LINE,
    SERVER_SEND_LINE,
    UDP_ECHO_LINE,
    Broken,
    Edit,
)

TOPICS = (
    mistakes_server,
    mistakes_one_check,
    mistakes_crashes,
    mistakes_udp,
    mistakes_conversation,
    mistakes_layout,
    mistakes_alone_tcp,
    mistakes_alone_udp,
)

__all__ = ["BY_TOPIC", "CORE", "LAB01", "LAB02", "LAB03", "REPOSITORY", "Broken", "Edit"]

_LAB01 = (
    Broken(
        "server-binds-localhost",
        "01-tcp-hello",
        (Edit("server.py", SERVER_HOST_LINE, 'HOST = "127.0.0.1"'),),
        fails=LAB01_SERVER_CHECKS | {"end-to-end"},
        mentions=("0.0.0.0",),
    ),
    Broken(
        "server-hard-coded-port",
        "01-tcp-hello",
        (Edit("server.py", SERVER_PORT_LINE, "PORT = 65432"),),
        fails=LAB01_SERVER_CHECKS | {"end-to-end"},
        mentions=("SERVER_PORT", "65432"),
    ),
    Broken(
        "server-never-accepts",
        "01-tcp-hello",
        (
            Edit(
                "server.py",
                "    listener.listen()\n    conn, address = listener.accept()",
                "    listener.listen(0)\n"
                "    # Mistake: a stray connection fills the queue; accept() never runs.\n"
                "    stray = socket.create_connection(('127.0.0.1', PORT))\n"
                "    import time\n"
                "    time.sleep(3600)\n"
                "    conn, address = listener.accept()",
            ),
        ),
        fails=LAB01_SERVER_CHECKS - {"server-listens"} | {"end-to-end"},
        mentions=("SYN-ACK", "<- no SYN-ACK"),
    ),
    Broken(
        "server-greeting-with-newline",
        "01-tcp-hello",
        (Edit("server.py", 'GREETING = b"Hello, Client!"', 'GREETING = b"Hello, Client!\\n"'),),
        fails=frozenset({"server-greeting"}),
        mentions=("'Hello, Client!\\n'", "line ending"),
    ),
    Broken(
        "server-greeting-lacks-its-end",
        "01-tcp-hello",
        (Edit("server.py", 'GREETING = b"Hello, Client!"', 'GREETING = b"Hello, Client"'),),
        # end-to-end blames the server: the client printed what it was sent.
        fails=frozenset({"server-greeting", "end-to-end"}),
        mentions=("lacks the last 1 byte, b'!'", "ends early"),
    ),
    Broken(
        "server-sends-another-greeting",
        "01-tcp-hello",
        (Edit("server.py", 'GREETING = b"Hello, Client!"', 'GREETING = b"Hello, World!"'),),
        # end-to-end blames the server: the client printed what it was sent.
        fails=frozenset({"server-greeting", "end-to-end"}),
        mentions=("'Hello, World!'", "your client is not at fault"),
    ),
    Broken(
        "server-resets-connection",
        "01-tcp-hello",
        (
            Edit(
                "server.py",
                SERVER_SEND_LINE,
                SERVER_SEND_LINE + "\n        import struct\n"
                "        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,"
                " struct.pack('ii', 1, 0))",
            ),
        ),
        fails=frozenset({"server-close"}),
        mentions=("RST", "SO_LINGER", "<- abortive close"),
    ),
    Broken(
        "server-serves-forever",
        "01-tcp-hello",
        (
            Edit(
                "server.py",
                "    conn, address = listener.accept()\n    with conn:",
                "    while True:\n      conn, address = listener.accept()\n      with conn:",
            ),
        ),
        fails=frozenset({"server-exit"}),
        mentions=("still running",),
    ),
    Broken(
        "server-exits-with-status-3",
        "01-tcp-hello",
        (Edit("server.py", SERVER_SEND_LINE, SERVER_SEND_LINE + "\nraise SystemExit(3)"),),
        fails=frozenset({"server-exit"}),
        mentions=("status 3",),
    ),
    Broken(
        "server-syntax-error",
        "01-tcp-hello",
        (Edit("server.py", SERVER_HOST_LINE, 'HOST = "0.0.0.0'),),
        fails=LAB01_SERVER_CHECKS | {"end-to-end"},
        mentions=("SyntaxError",),
    ),
    Broken(
        "server-memory-hog",
        "01-tcp-hello",
        (Edit("server.py", SERVER_HOST_LINE, SERVER_HOST_LINE + "\nhog = bytearray(300 << 20)"),),
        fails=LAB01_SERVER_CHECKS | {"end-to-end"},
        mentions=("memory", "64 MB"),
    ),
    Broken(
        "client-single-recv",
        "01-tcp-hello",
        (Edit("client.py", CLIENT_READ_LOOP, "        received = sock.recv(1024)"),),
        fails=frozenset({"client-greeting-in-pieces"}),
        mentions=("byte stream", "recv()"),
    ),
    Broken(
        "client-connects-to-localhost",
        "01-tcp-hello",
        (
            Edit(
                "client.py",
                'HOST = os.environ.get("SERVER_HOST", "localhost")',
                'HOST = "localhost"',
            ),
        ),
        fails=LAB01_CLIENT_CONNECT_CHECKS,
        mentions=("SERVER_HOST",),
    ),
    Broken(
        "client-hard-coded-port",
        "01-tcp-hello",
        (Edit("client.py", SERVER_PORT_LINE, "PORT = 65432"),),
        fails=LAB01_CLIENT_CONNECT_CHECKS,
        mentions=("wrong port", "65432", "SERVER_PORT"),
    ),
    Broken(
        "client-exits-with-status-2",
        "01-tcp-hello",
        (Edit("client.py", CLIENT_PRINT_LINE, CLIENT_PRINT_LINE + "\nsys.exit(2)"),),
        fails=frozenset({"client-exit"}),
        mentions=("status 2",),
    ),
    Broken(
        "client-traceback-without-server",
        "01-tcp-hello",
        (
            Edit(
                "client.py",
                "try:\n    sock = socket.create_connection((HOST, PORT))\nexcept OSError as e:",
                "sock = socket.create_connection((HOST, PORT))\nif False:",
            ),
        ),
        fails=frozenset({"client-no-server"}),
        mentions=("traceback", "stderr"),
    ),
    Broken(
        "client-prints-repr",
        "01-tcp-hello",
        (Edit("client.py", "{received.decode()}", "{bytes(received)}"),),
        fails=frozenset({"client-greeting"}),
        mentions=("decode",),
    ),
    Broken(
        "client-missing",
        "01-tcp-hello",
        (),
        fails=LAB01_CLIENT_CONNECT_CHECKS | {"client-no-server"},
        mentions=("client.py not found",),
        removes=("client.py",),
    ),
    Broken(
        "client-hangs",
        "01-tcp-hello",
        (
            Edit(
                "client.py",
                CLIENT_PRINT_LINE,
                CLIENT_PRINT_LINE + "\nimport time\ntime.sleep(3600)",
            ),
        ),
        fails=frozenset({"client-exit"}),
        mentions=("still running",),
    ),
    Broken(
        "client-floods-stderr",
        "01-tcp-hello",
        (
            Edit(
                "client.py",
                CLIENT_PRINT_LINE,
                CLIENT_PRINT_LINE + "\nfor _ in range(1000):\n"
                "    sys.stderr.write('x' * 100_000 + '\\n')\nsys.exit(4)",
            ),
        ),
        fails=frozenset({"client-exit"}),
        mentions=("status 4", "printed more than the grader keeps"),
    ),
    Broken(
        "client-prints-without-connecting",
        "01-tcp-hello",
        (
            Edit(
                "client.py",
                'HOST = os.environ.get("SERVER_HOST", "localhost")',
                "# The mistake: the line the README asks for, without asking the server.\n"
                'print("Received from server: Hello, Client!")\n'
                "sys.exit(0)\n"
                'HOST = os.environ.get("SERVER_HOST", "localhost")',
            ),
        ),
        fails=frozenset(
            {"client-greeting", "client-greeting-in-pieces", "client-exit", "client-no-server"}
            | {"end-to-end"}
        ),
        mentions=("did not come from your server", "the client never reached the server"),
    ),
)

_LAB02 = (
    Broken(
        "server-binds-localhost",
        "02-tcp-echo",
        (Edit("server.py", SERVER_HOST_LINE, 'HOST = "127.0.0.1"'),),
        fails=LAB02_SERVER_ECHO_CHECKS | {"server-listens", "sigterm-exit", "end-to-end"},
        mentions=("0.0.0.0",),
    ),
    Broken(
        "server-single-recv",
        "02-tcp-echo",
        (Edit("server.py", ECHO_LOOP, "        conn.sendall(conn.recv(1024))"),),
        fails=frozenset({"echo-8-mib", "echo-slow-pieces"}),
        mentions=("recv()",),
    ),
    Broken(
        "server-adds-newline",
        "02-tcp-echo",
        (
            Edit(
                "server.py",
                "            conn.sendall(data)",
                '            conn.sendall(data + b"\\n")',
            ),
        ),
        fails=LAB02_SERVER_ECHO_CHECKS | {"end-to-end"},
        mentions=("first difference at byte",),
    ),
    Broken(
        "server-decodes-text",
        "02-tcp-echo",
        (
            Edit(
                "server.py",
                "            conn.sendall(data)",
                '            conn.sendall(data.decode("utf-8", "replace").encode())',
            ),
        ),
        fails=frozenset({"echo-8-mib", "echo-all-byte-values"}),
        mentions=("decoding",),
    ),
    Broken(
        "server-serves-one-client",
        "02-tcp-echo",
        (
            Edit(
                "server.py",
                ACCEPT_LOOP,
                "    conn, address = listener.accept()\n    serve(conn)",
            ),
        ),
        fails=frozenset({"three-clients", "survives-reset", "sigterm-exit"}),
        mentions=("accept()",),
    ),
    Broken(
        "server-dies-on-reset",
        "02-tcp-echo",
        (
            Edit(
                "server.py",
                ACCEPT_LOOP,
                "    while True:\n        conn, address = listener.accept()\n        serve(conn)",
            ),
        ),
        fails=frozenset({"survives-reset"}),
        mentions=("ConnectionResetError",),
    ),
    Broken(
        "server-ignores-sigterm",
        "02-tcp-echo",
        (Edit("server.py", "signal.signal(signal.SIGTERM, stop)\n", ""),),
        fails=frozenset({"sigterm-exit"}),
        mentions=("status 143",),
    ),
    Broken(
        "server-floods-echo",
        "02-tcp-echo",
        (
            Edit(
                "server.py",
                ECHO_LOOP,
                "        data = conn.recv(65536)\n"
                "        while data:  # the mistake: the same data again and again, never reading\n"
                "            conn.sendall(data)",
            ),
        ),
        fails=LAB02_SERVER_ECHO_CHECKS | {"end-to-end"},
        mentions=("kept sending after the echo was complete", "bytes more than it received"),
    ),
    Broken(
        # 4 KiB per 50 ms (80 KiB/s): 8 MiB would take 100 s, while the small echoes, and the
        # 64 KiB after a reset, finish well inside their 5 s.
        "server-slow-echo",
        "02-tcp-echo",
        (
            Edit("server.py", "import sys\n", "import sys\nimport time\n"),
            Edit(
                "server.py",
                ECHO_LOOP,
                "        while True:\n"
                "            time.sleep(0.05)  # the mistake: a pause before each small read\n"
                "            data = conn.recv(4096)\n"
                "            if not data:\n"
                "                break\n"
                "            conn.sendall(data)",
            ),
        ),
        fails=frozenset({"echo-8-mib"}),
        mentions=("KiB/s", "the check allows 30 s"),
    ),
    Broken(
        "server-never-accepts",
        "02-tcp-echo",
        (
            Edit(
                "server.py",
                ACCEPT_LOOP,
                "    while True:  # the mistake: listening, but accept() is never called\n"
                "        signal.pause()",
            ),
        ),
        fails=LAB02_SERVER_ECHO_CHECKS | {"end-to-end"},
        mentions=("nothing accepted the connection", "kernel completes the handshake"),
    ),
    Broken(
        "client-reads-one-line",
        "02-tcp-echo",
        (
            Edit(
                "client.py", "data = sys.stdin.buffer.read()", "data = sys.stdin.buffer.readline()"
            ),
        ),
        fails=frozenset({"client-8-mib"}),
        mentions=("did not send exactly its input", "not one line"),
    ),
    Broken(
        "client-never-half-closes",
        "02-tcp-echo",
        (Edit("client.py", "    sock.shutdown(socket.SHUT_WR)", "    pass"),),
        fails=frozenset(
            {
                "client-half-close",
                "client-short-input",
                "client-8-mib",
                "client-empty-input",
            }
        ),
        mentions=("shutdown(socket.SHUT_WR)", "waits for your client's FIN"),
    ),
    Broken(
        "client-prints-text",
        "02-tcp-echo",
        (
            Edit(
                "client.py",
                "    while chunk := sock.recv(65536):\n        sys.stdout.buffer.write(chunk)",
                "    reply = b''\n    while chunk := sock.recv(65536):\n        reply += chunk\n"
                "    print(reply.decode())",
            ),
        ),
        fails=frozenset({"client-short-input", "client-8-mib", "client-empty-input", "end-to-end"}),
        mentions=("sys.stdout.buffer.write",),
    ),
    Broken(
        "client-traceback-without-server",
        "02-tcp-echo",
        (
            Edit(
                "client.py",
                "try:\n    sock = socket.create_connection((HOST, PORT))\nexcept OSError as e:",
                "sock = socket.create_connection((HOST, PORT))\nif False:",
            ),
        ),
        fails=frozenset({"client-no-server"}),
        mentions=("traceback",),
    ),
)

_LAB03 = (
    Broken(
        "server-binds-localhost",
        "03-udp-ping",
        (Edit("server.py", SERVER_HOST_LINE, 'HOST = "127.0.0.1"'),),
        fails=LAB03_SERVER_CHECKS,
        mentions=("0.0.0.0",),
    ),
    Broken(
        "server-small-buffer",
        "03-udp-ping",
        (Edit("server.py", "sock.recvfrom(65535)", "sock.recvfrom(1024)"),),
        fails=frozenset({"big-datagram"}),
        mentions=("differs from its request", "65535"),
    ),
    Broken(
        "server-replies-twice",
        "03-udp-ping",
        (Edit("server.py", UDP_ECHO_LINE, UDP_ECHO_LINE + "\n" + UDP_ECHO_LINE),),
        fails=LAB03_BOUNDARY_CHECKS,
        mentions=("more than once", "extra reply"),
    ),
    Broken(
        "server-floods-replies",
        "03-udp-ping",
        (
            Edit(
                "server.py",
                UDP_ECHO_LINE,
                "        while True:  # the mistake: the same reply, again and again\n"
                "    " + UDP_ECHO_LINE,
            ),
        ),
        fails=LAB03_BOUNDARY_CHECKS,
        mentions=("your server answered one datagram with", "one reply per datagram"),
    ),
    Broken(
        "server-ignores-sigterm",
        "03-udp-ping",
        (
            Edit(
                "server.py",
                "signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))\n",
                "",
            ),
        ),
        fails=frozenset({"sigterm-exit"}),
        mentions=("killed by SIGTERM",),
    ),
    Broken(
        "server-also-speaks-tcp",
        "03-udp-ping",
        (
            Edit(
                "server.py",
                UDP_ECHO_LINE,
                UDP_ECHO_LINE + "\n        try:  # the mistake: a TCP 'receipt' to the sender\n"
                "            socket.create_connection(address, timeout=0.2).close()\n"
                "        except OSError:\n            pass",
            ),
        ),
        fails=frozenset({"udp-only"}),
        mentions=("SOCK_DGRAM",),
    ),
    Broken(
        "client-waits-forever",
        "03-udp-ping",
        (Edit("client.py", "sock.settimeout(remaining)", "sock.settimeout(None)"),),
        # Every scenario with a reply that never comes: telling a duplicate or a late reply
        # from the awaited one without timing needs a ping whose reply is lost.
        fails=frozenset(
            {"client-drops", "client-duplicate", "client-late-reply", "client-strays"}
            | {"client-no-server"}
        ),
        mentions=("still running",),
    ),
    Broken(
        "client-takes-any-datagram",
        "03-udp-ping",
        (Edit("client.py", "if source == address and reply_seq(data) == seq:", "if True:"),),
        fails=frozenset({"client-duplicate", "client-late-reply"}),
        mentions=("answered by another ping's reply",),
    ),
    Broken(
        "client-loss-as-fraction",
        "03-udp-ping",
        (Edit("client.py", PING_SUMMARY, PING_SUMMARY.replace("100 * ", "")),),
        fails=frozenset({"client-drops"}),
        mentions=("the summary line is wrong",),
    ),
    Broken(
        "client-no-rtt-line",
        "03-udp-ping",
        (Edit("client.py", "if rtts:\n", "if False:\n"),),
        fails=frozenset({"client-no-loss"}),
        mentions=("rtt min/avg/max",),
    ),
)

# The first mistakes, graded with each lab's solution and starter (tests/test_labNN_grading.py).
CORE = {"01-tcp-hello": _LAB01, "02-tcp-echo": _LAB02, "03-udp-ping": _LAB03}
# Each topic module lists mistakes of one kind, for every lab; a lab's topic entries are graded
# in a batch of their own (tests/test_verdicts.py), beside the core batches.
BY_TOPIC = {
    "01-tcp-hello": sum((topic.LAB01 for topic in TOPICS), ()),
    "02-tcp-echo": sum((topic.LAB02 for topic in TOPICS), ()),
    "03-udp-ping": sum((topic.LAB03 for topic in TOPICS), ()),
}
LAB01 = CORE["01-tcp-hello"] + BY_TOPIC["01-tcp-hello"]
LAB02 = CORE["02-tcp-echo"] + BY_TOPIC["02-tcp-echo"]
LAB03 = CORE["03-udp-ping"] + BY_TOPIC["03-udp-ping"]
