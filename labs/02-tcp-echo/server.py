"""Lab 02 server: echo every byte a client sends, for one client after another.

Run it:  python3 server.py
"""

import os
import socket

HOST = "0.0.0.0"
PORT = int(os.environ.get("SERVER_PORT", "65433"))

with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
    listener.bind((HOST, PORT))
    listener.listen()
    # TODO 1: serve clients one after another, forever, not just the first one.
    conn, address = listener.accept()
    with conn:
        # TODO 2: one recv() returns only part of a stream. Keep receiving until recv()
        # returns b"" (the client half-closed), and send each piece back with sendall().
        data = conn.recv(1024)
        conn.send(data)
    # TODO 3: a client that resets its connection (ConnectionResetError) must not stop the
    # server, and on SIGTERM the server exits with status 0 (see the signal module).
