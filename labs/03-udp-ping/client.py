"""Lab 03 client: a UDP pinger.

Run it:  python3 client.py
"""

import os
import socket
import time

HOST = os.environ.get("SERVER_HOST", "localhost")
PORT = int(os.environ.get("SERVER_PORT", "65434"))
COUNT = int(os.environ.get("PING_COUNT", "10"))
TIMEOUT = float(os.environ.get("PING_TIMEOUT", "1.0"))

with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
    for seq in range(1, COUNT + 1):
        sent_at = time.time()
        sock.sendto(f"PING {seq} {sent_at}".encode(), (HOST, PORT))
        # TODO 1: UDP gives no guarantee: the reply may never come. Wait at most TIMEOUT
        # (sock.settimeout) and print "Request timed out: seq=<seq>" when it does not.
        # TODO 2: ignore datagrams that are not the reply to this seq (duplicates, late replies),
        # and after one keep waiting only for what is left of TIMEOUT, not a fresh TIMEOUT.
        data, _ = sock.recvfrom(65535)
        rtt_ms = (time.time() - sent_at) * 1000
        print(f"Reply from {HOST}: seq={seq} rtt={rtt_ms:.3f} ms")

# TODO 3: print "<sent> packets transmitted, <received> received, <loss>% packet loss" and,
# if anything was received, "rtt min/avg/max = <min>/<avg>/<max> ms".
