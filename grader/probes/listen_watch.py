"""Waits until a program's socket is listening, read from /proc/net of its network namespace.

Runs in a helper container that shares the observed container's network namespace, so it
never connects (a connection would use up a server that accepts only one client). Prints
one JSON line: {"listeners": [[address, port], ...], "waited_s": seconds}.
"""

from __future__ import annotations

import ipaddress
import json
import sys
import time

# Docker's embedded DNS server listens on 127.0.0.11 inside every container on a
# user-defined network; it is not the program's socket.
DOCKER_DNS = "127.0.0.11"
TCP_LISTEN = "0A"
UDP_UNCONNECTED = "07"


def decode_address(hex_address: str) -> str:
    """/proc/net addresses are the kernel's words in host (little-endian) byte order."""
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    address = ipaddress.IPv6Address(words)
    return str(address.ipv4_mapped or address)


def listeners(protocol: str) -> list[tuple[str, int]]:
    state_wanted = TCP_LISTEN if protocol == "tcp" else UDP_UNCONNECTED
    found = []
    for table in (f"/proc/net/{protocol}", f"/proc/net/{protocol}6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state = fields[1], fields[3]
            if state != state_wanted:
                continue
            hex_address, hex_port = local.split(":")
            address = decode_address(hex_address)
            if address != DOCKER_DNS:
                found.append((address, int(hex_port, 16)))
    return sorted(set(found))


def main() -> None:
    options = json.loads(sys.argv[1])
    started = time.monotonic()
    deadline = started + options["timeout_s"]
    found: list[tuple[str, int]] = []
    while time.monotonic() < deadline:
        found = listeners(options["protocol"])
        if found:
            break
        time.sleep(options.get("interval_s", 0.02))
    waited = round(time.monotonic() - started, 3)
    print(json.dumps({"listeners": found, "waited_s": waited}), flush=True)


if __name__ == "__main__":
    main()
