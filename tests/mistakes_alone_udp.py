"""Broken submissions that fail one check each: for the checks of lab 03.

COUPLED holds a mistake that truly breaks two points: a server that merges the datagrams of
a burst answers two from one client with one reply (back-to-back) and those of three clients
with one reply to the last of them (three-clients).
"""

from __future__ import annotations

from tests.broken import Broken, Edit

LAB01: tuple[Broken, ...] = ()
LAB02: tuple[Broken, ...] = ()

# Lines of the reference client that the mistakes edit: its test of a reply, its timeout
# line, and the rtt line it prints only when something came back.
ACCEPTS_REPLY = "            if source == address and reply_seq(data) == seq:\n"
TIMES_OUT = '                print(f"Request timed out: seq={seq}")\n'
RTT_LINE = "if rtts:\n    print("

LAB03_ALONE: tuple[Broken, ...] = (
    Broken(
        "client-ignores-answered-seqs-only",
        "03-udp-ping",
        (
            # Duplicates are recognised by a seq already answered, but a late reply to a ping
            # that timed out has a seq never answered, so it is taken for the current ping.
            Edit("client.py", "rtts = []\n", "rtts = []\nanswered = set()\n"),
            Edit(
                "client.py",
                ACCEPTS_REPLY,
                "            if source == address and reply_seq(data) not in answered:\n"
                "                answered.add(reply_seq(data))\n",
            ),
        ),
        fails=frozenset({"client-late-reply"}),
        mentions=("seq=5", "a duplicate or a late one"),
    ),
    Broken(
        "client-ignores-timed-out-seqs-only",
        "03-udp-ping",
        (
            # Late replies are recognised by the seq of a ping that timed out, but the
            # duplicate of a reply already taken is not, so it is taken for the next ping.
            Edit("client.py", "rtts = []\n", "rtts = []\ntimed_out = set()\n"),
            Edit("client.py", TIMES_OUT, TIMES_OUT + "                timed_out.add(seq)\n"),
            Edit(
                "client.py",
                ACCEPTS_REPLY,
                "            if source == address and reply_seq(data) not in timed_out:\n",
            ),
        ),
        fails=frozenset({"client-duplicate"}),
        mentions=("seq=3", "a duplicate or a late one"),
    ),
    Broken(
        "client-rtt-line-without-replies",
        "03-udp-ping",
        # The rtt line is printed also when nothing came back: min() of no round-trip times
        # raises ValueError, after the summary, at 100% loss only.
        (Edit("client.py", RTT_LINE, "if True:\n    print("),),
        fails=frozenset({"client-no-server"}),
        mentions=("ValueError",),
    ),
    Broken(
        "client-connected-socket-no-refusal",
        "03-udp-ping",
        (
            # connect() on the UDP socket: the ICMP port unreachable of a host with nothing
            # on SERVER_PORT surfaces as ConnectionRefusedError on recvfrom(), uncaught.
            Edit(
                "client.py",
                "    for seq in range(1, COUNT + 1):\n",
                "    sock.connect(address)\n    for seq in range(1, COUNT + 1):\n",
            ),
            Edit(
                "client.py",
                "            except OSError:  # e.g. ICMP port unreachable: no reply is coming for"
                " this ping\n                continue\n",
                "",
            ),
        ),
        fails=frozenset({"client-no-server"}),
        mentions=("ConnectionRefusedError", "count that ping as lost"),
    ),
    Broken(
        "client-exit-status-1-when-all-lost",
        "03-udp-ping",
        # Like the system's ping, the client exits with status 1 when no reply came at all.
        (Edit("client.py", RTT_LINE, "if not rtts:\n    sys.exit(1)\nif rtts:\n    print("),),
        fails=frozenset({"client-no-server"}),
        mentions=("status 1", "status 0", "Lost pings are a result to report"),
    ),
    Broken(
        "client-ignores-ping-timeout",
        "03-udp-ping",
        # A timeout of its own, like ping's one second: right where the grader gives 1.0 s,
        # four times too long with no server (0.25 s per ping).
        (
            Edit(
                "client.py",
                'TIMEOUT = float(os.environ.get("PING_TIMEOUT", "1.0"))',
                "TIMEOUT = 1.0",
            ),
        ),
        fails=frozenset({"client-no-server"}),
        mentions=("with no server the client took", "Wait PING_TIMEOUT once per ping"),
    ),
    Broken(
        "client-loss-truncated-by-int",
        "03-udp-ping",
        (
            # A whole number by int(): (1 - 8 / 10) * 100 is 19.999999999999996 in floating
            # point, so int() gives 19 (and 9 for 1 of 10); 0% and 100% come out right.
            Edit(
                "client.py",
                "loss = 100 * (COUNT - received) / COUNT if COUNT else 0.0\n",
                "loss = int((1 - received / COUNT) * 100) if COUNT else 0\n",
            ),
        ),
        fails=frozenset({"client-drops"}),
        mentions=("the summary line is wrong", "19", "not cut down by int()"),
    ),
    Broken(
        # The textbook's loop around recvfrom with settimeout(TIMEOUT) inside it: each stray
        # datagram it ignores starts a whole PING_TIMEOUT again.
        "client-restarts-timeout-per-stray",
        "03-udp-ping",
        (
            Edit(
                "client.py",
                "            remaining = deadline - time.monotonic()\n"
                "            if remaining <= 0:\n"
                '                print(f"Request timed out: seq={seq}")\n'
                "                break\n"
                "            sock.settimeout(remaining)\n"
                "            try:\n"
                "                data, source = sock.recvfrom(65535)\n"
                "            except TimeoutError:\n"
                "                continue\n",
                "            sock.settimeout(TIMEOUT)  # the mistake: a fresh timeout each time\n"
                "            try:\n"
                "                data, source = sock.recvfrom(65535)\n"
                "            except TimeoutError:\n"
                '                print(f"Request timed out: seq={seq}")\n'
                "                break\n",
            ),
        ),
        fails=frozenset({"client-strays"}),
        mentions=("stray datagrams kept the client waiting", "only for what is left"),
    ),
    Broken(
        # The other way to get time left wrong: any datagram that is not the reply ends the
        # wait, as if the timeout had passed.
        "client-gives-up-at-a-stray",
        "03-udp-ping",
        (
            Edit(
                "client.py",
                "            # anything else (a duplicate, a late reply to an earlier ping)"
                " is ignored\n",
                "            # the mistake: a stray ends the wait\n"
                '            print(f"Request timed out: seq={seq}")\n'
                "            break\n",
            ),
        ),
        fails=frozenset({"client-strays"}),
        mentions=("before PING_TIMEOUT = 1 s", "ends nothing"),
    ),
)

COUPLED: tuple[Broken, ...] = (
    Broken(
        "server-reads-until-quiet",
        "03-udp-ping",
        (
            # A habit from TCP: read "the rest of the message" until nothing comes for 0.2 s,
            # so datagrams that arrive together are answered as one, to the last sender.
            Edit(
                "server.py",
                "        sock.sendto(data, address)\n",
                "        sock.settimeout(0.2)\n"
                "        try:\n"
                "            while True:\n"
                "                more, address = sock.recvfrom(65535)\n"
                "                data += more\n"
                "        except TimeoutError:\n"
                "            pass\n"
                "        sock.settimeout(None)\n"
                "        sock.sendto(data, address)\n",
            ),
        ),
        fails=frozenset({"back-to-back", "three-clients"}),
        mentions=("merged into one reply", "merged into one reply to client 3"),
    ),
)

LAB03: tuple[Broken, ...] = LAB03_ALONE + COUPLED
