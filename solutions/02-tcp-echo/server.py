"""Lab 02 reference server: echo every byte of each client, one client after another."""

import os
import signal
import socket
import sys

HOST = "0.0.0.0"
PORT = int(os.environ.get("SERVER_PORT", "65433"))


def stop(signum, frame):
    sys.exit(0)


def serve(conn):
    """Echo until the client half-closes (recv returns b''), then close in an orderly way."""
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)


signal.signal(signal.SIGTERM, stop)
with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, PORT))
    listener.listen()
    while True:
        conn, address = listener.accept()
        try:
            serve(conn)
        except (ConnectionResetError, BrokenPipeError) as e:
            print(f"client {address[0]}:{address[1]} went away: {e}", file=sys.stderr)
