"""Lab 02 reference client: send stdin to the echo server, write the echo to stdout."""

import os
import socket
import sys

HOST = os.environ.get("SERVER_HOST", "localhost")
PORT = int(os.environ.get("SERVER_PORT", "65433"))

data = sys.stdin.buffer.read()
try:
    sock = socket.create_connection((HOST, PORT))
except OSError as e:
    print(f"client: cannot connect to {HOST}:{PORT}: {e.strerror or e}", file=sys.stderr)
    sys.exit(1)

with sock:
    sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)  # half-close: "that is all", and the echo can still come back
    while chunk := sock.recv(65536):
        sys.stdout.buffer.write(chunk)
sys.stdout.buffer.flush()
