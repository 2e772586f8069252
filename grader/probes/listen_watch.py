"""Waits until a program's socket is listening, read from /proc/net of its network namespace.

Runs in a helper container that shares the observed container's network namespace, so it
never connects (a connection would use up a server that accepts only one client). Prints
one JSON line: {"listeners": [[address, port, ipv6_only], ...], "waited_s": seconds}.

`ipv6_only` is the socket's IPV6_V6ONLY option, which /proc/net does not show: it is asked
of the kernel's socket diagnostics (sock_diag netlink, what `ss` uses; no capability
needed), matched to the /proc/net row by inode. An IPv6 socket with it set takes no IPv4
client even when bound to `::`. False for IPv4 sockets, and when the kernel cannot tell
(Linux's default, net.ipv6.bindv6only=0, is a dual-stack socket).
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import struct
import sys
import time

# Docker's embedded DNS server listens on 127.0.0.11 inside every container on a
# user-defined network; it is not the program's socket.
DOCKER_DNS = "127.0.0.11"
TCP_LISTEN = "0A"
UDP_UNCONNECTED = "07"

# linux/netlink.h, linux/sock_diag.h, linux/inet_diag.h
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLMSG_HEADER = struct.Struct("=IHHII")
INET_DIAG_REQ_V2 = struct.Struct("=BBBBI48x")
INET_DIAG_MSG_BYTES = 72
INET_DIAG_MSG_INODE_OFFSET = 68
INET_DIAG_SKV6ONLY = 11
RTATTR = struct.Struct("=HH")
PROTOCOLS = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP}
STATE_BITS = {"tcp": 1 << 10, "udp": 1 << 7}  # TCP_LISTEN and TCP_CLOSE (an unconnected UDP socket)


def decode_address(hex_address: str) -> str:
    """/proc/net addresses are the kernel's words in host (little-endian) byte order."""
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    address = ipaddress.IPv6Address(words)
    return str(address.ipv4_mapped or address)


def ipv6_sockets(protocol: str) -> dict[int, bool] | None:
    """The inodes of this namespace's listening (TCP) or unconnected (UDP) IPv6 sockets of
    `protocol`, each with whether it has IPV6_V6ONLY set.

    None when the kernel does not answer (no sock_diag for the protocol): see the module
    docstring for what that means.
    """
    try:
        replies = sock_diag_dump(socket.AF_INET6, PROTOCOLS[protocol], STATE_BITS[protocol])
    except OSError:
        return None
    return dict(replies)


def sock_diag_dump(family: int, protocol: int, states: int) -> list[tuple[int, bool]]:
    """(inode, IPV6_V6ONLY) of every socket of `family`/`protocol` in one of `states`.

    Raises OSError when netlink or the kernel's diagnostics module refuses.
    """
    request = INET_DIAG_REQ_V2.pack(family, protocol, 0, 0, states)
    header = NLMSG_HEADER.pack(
        NLMSG_HEADER.size + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 1, 0
    )
    found: list[tuple[int, bool]] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG) as sock:
        sock.settimeout(2.0)
        sock.sendto(header + request, (0, 0))
        while True:
            data = sock.recv(1 << 16)
            offset = 0
            while offset + NLMSG_HEADER.size <= len(data):
                length, kind = NLMSG_HEADER.unpack_from(data, offset)[:2]
                if kind == NLMSG_DONE:
                    return found
                if kind == NLMSG_ERROR or length < NLMSG_HEADER.size:
                    raise OSError("sock_diag refused the request")
                found.append(diag_message(data[offset + NLMSG_HEADER.size : offset + length]))
                offset += (length + 3) & ~3
            if not data:
                return found


def diag_message(body: bytes) -> tuple[int, bool]:
    """(inode, IPV6_V6ONLY) from one inet_diag_msg and its attributes."""
    inode = int.from_bytes(body[INET_DIAG_MSG_INODE_OFFSET:INET_DIAG_MSG_BYTES], sys.byteorder)
    v6only = False
    offset = INET_DIAG_MSG_BYTES
    while offset + RTATTR.size <= len(body):
        length, kind = RTATTR.unpack_from(body, offset)
        if length < RTATTR.size:
            break
        if kind == INET_DIAG_SKV6ONLY:
            v6only = body[offset + RTATTR.size] != 0
        offset += (length + 3) & ~3
    return inode, v6only


def session_socket_inodes(session: int) -> set[int]:
    """The inodes of the sockets that the processes of `session` hold open.

    For a namespace shared with other programs (the local backend): a process of the session
    is one whose session id (field 6 of /proc/PID/stat) is `session`. A process that left
    the session, or whose descriptors this process may not read, is not seen.
    """
    inodes: set[int] = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                fields = stat.read().rpartition(b")")[2].split()
            if int(fields[3]) != session:
                continue
            for fd in os.listdir(f"/proc/{name}/fd"):
                target = os.readlink(f"/proc/{name}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
        except (OSError, ValueError, IndexError):
            continue
    return inodes


TABLE_READ_BYTES = 2048
"""How much of a /proc/net table one read asks for: a dozen rows (150 bytes each for TCP)."""


def table_rows(table: str, *, listening_only: bool) -> list[str]:
    """The rows of the /proc/net table `table`, without its header line.

    With `listening_only` (a TCP table), only its first rows, the listening sockets: the
    kernel lists them before all others (the listening hash, then the established one), so
    the reading stops at the first row in another state. The kernel writes a table's rows as
    they are read, a read's worth at a time, and every other row costs a walk of its
    established-socket hash, which is large (sized by memory, not by the sockets in it);
    this is polled every 20 ms for every server run, beside a batch's other gradings.
    Raises OSError when the table cannot be read.
    """
    if not listening_only:
        with open(table, "rb") as f:
            return f.read().decode("ascii", "replace").splitlines()[1:]
    text = b""
    with open(table, "rb", buffering=0) as f:
        while True:
            chunk = f.read(TABLE_READ_BYTES)
            text += chunk
            lines = text.split(b"\n")
            complete = lines[1:-1]  # the header, and a row not yet read whole, left out
            if not chunk or any(row.split()[3:4] != [TCP_LISTEN.encode()] for row in complete):
                break
    # The last piece is a row not read whole, or the empty one after the final newline.
    rows = [row.decode("ascii", "replace") for row in text.split(b"\n")[1:-1]]
    return [row for row in rows if row.split()[3:4] == [TCP_LISTEN]]


def listeners(
    protocol: str, inodes: set[int] | None = None, uid: int | None = None
) -> list[tuple[str, int, bool]]:
    """(address, port, ipv6_only) of each listening TCP or bound, unconnected UDP socket;
    with `inodes`, of those sockets only; with `uid`, of the sockets that uid owns."""
    state_wanted = TCP_LISTEN if protocol == "tcp" else UDP_UNCONNECTED
    found = []
    # Asked first, as it is cheap: /proc/net/tcp6 costs a walk of the whole established-socket
    # hash when no IPv6 connection ends it early (table_rows), and is read only when some
    # IPv6 socket is there to be found in it.
    ipv6 = ipv6_sockets(protocol)
    for table in (f"/proc/net/{protocol}", f"/proc/net/{protocol}6"):
        if table.endswith("6") and ipv6 is not None and not ipv6:
            continue
        try:
            rows = table_rows(table, listening_only=protocol == "tcp")
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state, owner, inode = fields[1], fields[3], int(fields[7]), int(fields[9])
            if state != state_wanted or (inodes is not None and inode not in inodes):
                continue
            if uid is not None and owner != uid:
                continue
            hex_address, hex_port = local.split(":")
            address = decode_address(hex_address)
            if address == DOCKER_DNS:
                continue
            v6only = bool(ipv6 and table.endswith("6") and ipv6.get(inode))
            found.append((address, int(hex_port, 16), v6only))
    return sorted(set(found))


def main() -> None:
    options = json.loads(sys.argv[1])
    started = time.monotonic()
    deadline = started + options["timeout_s"]
    found: list[tuple[str, int, bool]] = []
    while time.monotonic() < deadline:
        found = listeners(options["protocol"])
        if found:
            break
        time.sleep(options.get("interval_s", 0.02))
    waited = round(time.monotonic() - started, 3)
    print(json.dumps({"listeners": found, "waited_s": waited}), flush=True)


if __name__ == "__main__":
    main()
