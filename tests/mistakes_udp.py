"""Broken submissions: UDP datagrams, replies and pingers (issue 8: 6, 8, 11, 14)."""

from __future__ import annotations

from tests.broken import UDP_ECHO_LINE, Broken, Edit

LAB01: tuple[Broken, ...] = ()
LAB02: tuple[Broken, ...] = ()

CLIENT_HOST_LINE = 'HOST = os.environ.get("SERVER_HOST", "localhost")'
CLIENT_ADDRESS_LINES = CLIENT_HOST_LINE + '\nPORT = int(os.environ.get("SERVER_PORT", "65434"))'
PING_CHECKS = frozenset(
    {"client-no-loss", "client-drops", "client-duplicate", "client-late-reply", "client-strays"}
    | {"client-no-server"}
)
UDP_RECEIVE_LINE = (
    "        data, address = sock.recvfrom(65535)  # one datagram, whatever its size (0 to 64 KiB)"
)

LAB03: tuple[Broken, ...] = (
    Broken(
        # The textbook's buffer: big enough for a ping, not for a datagram of 8192 bytes,
        # which crosses the wire as six IP fragments.
        "server-buffer-2048",
        "03-udp-ping",
        (Edit("server.py", "sock.recvfrom(65535)", "sock.recvfrom(2048)"),),
        fails=frozenset({"big-datagram"}),
        mentions=("truncated, 2048 of the 8192 bytes sent", "recvfrom(2048)", "65535"),
    ),
    Broken(
        "server-upper-cases",
        "03-udp-ping",
        (Edit("server.py", UDP_ECHO_LINE, "        sock.sendto(data.upper(), address)"),),
        fails=frozenset({"echo-exact"}),
        mentions=("differs from its request at byte 2", "upper-cased", "b' Ping 1 17"),
    ),
    Broken(
        "server-strips-whitespace",
        "03-udp-ping",
        (Edit("server.py", UDP_ECHO_LINE, "        sock.sendto(data.strip(), address)"),),
        fails=frozenset({"echo-exact"}),
        mentions=("at byte 0", "stripped of whitespace"),
    ),
    Broken(
        # A line ending added to each reply: the bytes are wrong, the boundaries are kept.
        "server-adds-newline",
        "03-udp-ping",
        (Edit("server.py", UDP_ECHO_LINE, '        sock.sendto(data + b"\\n", address)'),),
        fails=frozenset({"echo-exact"}),
        mentions=("newline",),
    ),
    Broken(
        # The starter's decode() kept: binary data crashes it, text of any size does not.
        "server-decodes-text",
        "03-udp-ping",
        (
            Edit(
                "server.py",
                UDP_ECHO_LINE,
                '        sock.sendto(data.decode("utf-8").encode("utf-8"), address)',
            ),
        ),
        fails=frozenset({"echo-exact"}),
        mentions=("UnicodeDecodeError",),
    ),
    Broken(
        # time.time() differences are seconds: printed as ms without the factor 1000.
        "client-rtt-in-seconds",
        "03-udp-ping",
        (
            Edit(
                "client.py",
                "rtt_ms = (time.time() - sent_at) * 1000",
                "rtt_ms = time.time() - sent_at",
            ),
        ),
        fails=frozenset({"client-no-loss"}),
        mentions=("in seconds, printed as ms", "multiply the difference by 1000"),
    ),
    Broken(
        "server-skips-empty-datagrams",
        "03-udp-ping",
        (
            Edit(
                "server.py",
                UDP_RECEIVE_LINE,
                UDP_RECEIVE_LINE + "\n        if not data:  # the mistake: b'' is a datagram too\n"
                "            continue",
            ),
        ),
        fails=frozenset({"empty-datagram"}),
        mentions=("datagram 1 (0 bytes) got no reply", "if not data"),
    ),
    Broken(
        # Duplicates are the same datagram again, not the same sender: this server answers
        # each client once, so a client's second ping goes unanswered.
        "server-answers-each-client-once",
        "03-udp-ping",
        (
            Edit(
                "server.py",
                "    sock.bind((HOST, PORT))\n",
                "    sock.bind((HOST, PORT))\n    answered = set()\n",
            ),
            Edit(
                "server.py",
                UDP_RECEIVE_LINE,
                UDP_RECEIVE_LINE
                + "\n        if address in answered:  # the mistake: 'a duplicate'\n"
                "            continue\n        answered.add(address)",
            ),
        ),
        fails=frozenset({"back-to-back"}),
        mentions=("datagram 2 (19 bytes) got no reply",),
    ),
    Broken(
        "client-hard-coded-localhost",
        "03-udp-ping",
        (Edit("client.py", CLIENT_HOST_LINE, 'HOST = "localhost"'),),
        # With no server anywhere, its pings to itself time out as they should.
        fails=PING_CHECKS - {"client-no-server"},
        mentions=("no datagram from the client reached the server", "hard-coded host"),
    ),
    Broken(
        "client-needs-arguments",
        "03-udp-ping",
        (
            Edit(
                "client.py",
                CLIENT_ADDRESS_LINES,
                "if len(sys.argv) != 3:  # the mistake: the grader gives no arguments\n"
                '    print("usage: client.py HOST PORT", file=sys.stderr)\n'
                "    sys.exit(1)\n"
                "HOST, PORT = sys.argv[1], int(sys.argv[2])",
            ),
        ),
        fails=PING_CHECKS,
        mentions=(
            "no datagram from the client reached the server",
            "before its first ping",
            "no command-line arguments",
            "usage: client.py HOST PORT",
        ),
    ),
)
