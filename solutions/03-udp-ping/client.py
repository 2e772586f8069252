"""Lab 03 reference client: ping a UDP echo server PING_COUNT times and report, like ping."""

import os
import socket
import sys
import time

HOST = os.environ.get("SERVER_HOST", "localhost")
PORT = int(os.environ.get("SERVER_PORT", "65434"))
COUNT = int(os.environ.get("PING_COUNT", "10"))
TIMEOUT = float(os.environ.get("PING_TIMEOUT", "1.0"))


def reply_seq(data):
    """The seq a reply answers, or None if it is not a reply to one of our pings."""
    parts = data.split()
    if len(parts) == 3 and parts[0] == b"PING" and parts[1].isdigit():
        return int(parts[1])
    return None


try:
    address = (socket.gethostbyname(HOST), PORT)
except OSError as e:
    print(f"client: cannot resolve {HOST}: {e}", file=sys.stderr)
    sys.exit(1)

rtts = []
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
    for seq in range(1, COUNT + 1):
        sent_at = time.time()
        sock.sendto(f"PING {seq} {sent_at}".encode(), address)
        deadline = time.monotonic() + TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                print(f"Request timed out: seq={seq}")
                break
            sock.settimeout(remaining)
            try:
                data, source = sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:  # e.g. ICMP port unreachable: no reply is coming for this ping
                continue
            if source == address and reply_seq(data) == seq:
                rtt_ms = (time.time() - sent_at) * 1000
                rtts.append(rtt_ms)
                print(f"Reply from {HOST}: seq={seq} rtt={rtt_ms:.3f} ms")
                break
            # anything else (a duplicate, a late reply to an earlier ping) is ignored

received = len(rtts)
loss = 100 * (COUNT - received) / COUNT if COUNT else 0.0
print(f"{COUNT} packets transmitted, {received} received, {loss:.1f}% packet loss")
if rtts:
    print(f"rtt min/avg/max = {min(rtts):.3f}/{sum(rtts) / received:.3f}/{max(rtts):.3f} ms")
