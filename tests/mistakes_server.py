"""Broken submissions: where a server listens, what it sends, how it closes (issue 8: 1, 3, 7).

A few entries fail nothing: they are right in a way a grader could mistake for wrong (a
dual-stack IPv6 socket listens on all interfaces), so their `fails` set is empty.
"""

from __future__ import annotations

from tests.broken import LAB01_SERVER_CHECKS, SERVER_HOST_LINE, SERVER_SEND_LINE, Broken, Edit

TCP_LISTENER = (
    "with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:\n"
    "    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "    listener.bind((HOST, PORT))\n"
    "    listener.listen()"
)
# What socket.create_server(("::", port), family=AF_INET6) does: IPV6_V6ONLY is set, so the
# socket takes IPv6 connections only, and the lab network (like most) carries IPv4.
TCP_IPV6_ONLY = 'with socket.create_server(("::", PORT), family=socket.AF_INET6) as listener:'
TCP_DUAL_STACK = (
    'with socket.create_server(("", PORT), family=socket.AF_INET6, dualstack_ipv6=True)'
    " as listener:"
)
HOST_NAME_ADDRESS = "HOST = socket.gethostbyname(socket.gethostname())"
UDP_SOCKET = (
    "with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:\n    sock.bind((HOST, PORT))"
)
UDP_IPV6_ONLY = (
    "with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:\n"
    "    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)\n"
    '    sock.bind(("::", PORT))'
)
UDP_DUAL_STACK = (
    "with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:\n"
    "    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\n"
    '    sock.bind(("::", PORT))'
)
LAB02_UNREACHABLE = frozenset(
    {
        "server-listens",
        "echo-line",
        "echo-one-byte",
        "echo-8-mib",
        "echo-all-byte-values",
        "echo-slow-pieces",
        "three-clients",
        "survives-reset",
        "sigterm-exit",
        "end-to-end",
    }
)
LAB03_UNREACHABLE = frozenset(
    {
        "server-bound",
        "udp-only",
        "echo-exact",
        "back-to-back",
        "empty-datagram",
        "big-datagram",
        "three-clients",
        "sigterm-exit",
    }
)

LAB01: tuple[Broken, ...] = (
    Broken(
        # One interface: the grader's clients reach it at that address, so only the check on
        # where it listens fails; at home a client of `localhost` would be refused.
        "server-binds-host-name-address",
        "01-tcp-hello",
        (Edit("server.py", SERVER_HOST_LINE, HOST_NAME_ADDRESS),),
        fails=frozenset({"server-listens"}),
        mentions=("not on all interfaces", "localhost", "'0.0.0.0'"),
    ),
    Broken(
        "server-ipv6-only",
        "01-tcp-hello",
        (Edit("server.py", TCP_LISTENER, TCP_IPV6_ONLY),),
        fails=LAB01_SERVER_CHECKS | {"end-to-end"},
        mentions=("IPv6 only", "IPV6_V6ONLY", "dualstack_ipv6=True", "'0.0.0.0'"),
    ),
    Broken(
        "server-dual-stack",
        "01-tcp-hello",
        (Edit("server.py", TCP_LISTENER, TCP_DUAL_STACK),),
        fails=frozenset(),
    ),
    Broken(
        # It waits for the client to speak first; the grader's client, like the lab's, waits
        # for the greeting. Nothing is sent and the connection stays open until the grader's
        # client gives up, so the greeting and the close both fail, and the student's own
        # client hangs against it (end-to-end); after the grader's client leaves, recv()
        # returns b'' and the server sends, closes and exits 0, so server-exit passes.
        "server-reads-first",
        "01-tcp-hello",
        (Edit("server.py", SERVER_SEND_LINE, "        conn.recv(1024)\n" + SERVER_SEND_LINE),),
        fails=frozenset({"server-greeting", "server-close", "end-to-end"}),
        mentions=("sent nothing", "speaks first", "gave up"),
    ),
    Broken(
        # The greeting arrives whole (server-greeting passes); no FIN comes while the client
        # waits (server-close), the program never ends (server-exit), and the student's own
        # client, which reads until the server closes, hangs (end-to-end).
        "server-never-closes",
        "01-tcp-hello",
        (
            Edit(
                "server.py",
                SERVER_SEND_LINE,
                SERVER_SEND_LINE + "\n        import time\n        time.sleep(3600)",
            ),
        ),
        fails=frozenset({"server-close", "server-exit", "end-to-end"}),
        mentions=("no FIN", "gave up"),
    ),
    Broken(
        # It waits for the client to close first, while the client waits for it: the
        # greeting arrives, no FIN while the grader's client waits (server-close), and the
        # student's own client hangs (end-to-end); once the grader's client leaves, the
        # server's recv() returns b'' and it exits 0.
        "server-waits-for-client-close",
        "01-tcp-hello",
        (Edit("server.py", SERVER_SEND_LINE, SERVER_SEND_LINE + "\n        conn.recv(1024)"),),
        fails=frozenset({"server-close", "end-to-end"}),
        mentions=("no FIN", "gave up"),
    ),
)
LAB02: tuple[Broken, ...] = (
    Broken(
        "server-binds-host-name-address",
        "02-tcp-echo",
        (Edit("server.py", SERVER_HOST_LINE, HOST_NAME_ADDRESS),),
        fails=frozenset({"server-listens"}),
        mentions=("not on all interfaces", "localhost", "'0.0.0.0'"),
    ),
    Broken(
        "server-ipv6-only",
        "02-tcp-echo",
        (Edit("server.py", TCP_LISTENER, TCP_IPV6_ONLY),),
        fails=LAB02_UNREACHABLE,
        mentions=("IPv6 only", "IPV6_V6ONLY", "dualstack_ipv6=True", "'0.0.0.0'"),
    ),
    Broken(
        "server-dual-stack",
        "02-tcp-echo",
        (Edit("server.py", TCP_LISTENER, TCP_DUAL_STACK),),
        fails=frozenset(),
    ),
)
LAB03: tuple[Broken, ...] = (
    Broken(
        "server-binds-host-name-address",
        "03-udp-ping",
        (Edit("server.py", SERVER_HOST_LINE, HOST_NAME_ADDRESS),),
        fails=frozenset({"server-bound"}),
        mentions=("not on all interfaces", "localhost", "'0.0.0.0'"),
    ),
    Broken(
        "server-ipv6-only",
        "03-udp-ping",
        (Edit("server.py", UDP_SOCKET, UDP_IPV6_ONLY),),
        fails=LAB03_UNREACHABLE,
        mentions=("IPv6 only", "IPV6_V6ONLY", "'0.0.0.0'"),
    ),
    Broken(
        "server-dual-stack",
        "03-udp-ping",
        (Edit("server.py", UDP_SOCKET, UDP_DUAL_STACK),),
        fails=frozenset(),
    ),
)
