"""Lab 01 reference client: read the whole greeting, print it, exit 0."""

import os
import socket
import sys

HOST = os.environ.get("SERVER_HOST", "localhost")
PORT = int(os.environ.get("SERVER_PORT", "65432"))

try:
    sock = socket.create_connection((HOST, PORT))
except OSError as e:
    print(f"client: cannot connect to {HOST}:{PORT}: {e.strerror or e}", file=sys.stderr)
    sys.exit(1)

received = bytearray()
with sock:
    try:
        while chunk := sock.recv(1024):
            received += chunk
    except ConnectionResetError:
        print("client: the server reset the connection", file=sys.stderr)

print(f"Received from server: {received.decode()}")
