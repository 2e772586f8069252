"""Lab 03 reference server: send every datagram back to its sender, unchanged."""

import os
import signal
import socket
import sys

HOST = "0.0.0.0"
PORT = int(os.environ.get("SERVER_PORT", "65434"))

signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))

with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
    sock.bind((HOST, PORT))
    while True:
        data, address = sock.recvfrom(65535)  # one datagram, whatever its size (0 to 64 KiB)
        sock.sendto(data, address)
