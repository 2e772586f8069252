"""Lab 03 server: a UDP echo server for the pinger.

Run it:  python3 server.py
"""

import os
import socket

HOST = "0.0.0.0"
PORT = int(os.environ.get("SERVER_PORT", "65434"))

with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
    sock.bind((HOST, PORT))
    while True:
        # TODO 1: a datagram can be up to 8192 bytes (and more): this buffer cuts it short.
        data, address = sock.recvfrom(1024)
        # TODO 2: send back exactly what arrived; no decoding, no changes.
        sock.sendto(data.decode().upper().encode(), address)
        # TODO 3: on SIGTERM, exit with status 0 (see the signal module).
