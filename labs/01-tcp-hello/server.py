"""Lab 01 server: greet one client over TCP, then close.

Run it:  python3 server.py
"""

import socket

# TODO 1: other containers cannot reach "localhost". Listen on all interfaces ("0.0.0.0").
HOST = "localhost"
# TODO 2: read the port from the SERVER_PORT environment variable (default 65432).
PORT = 65432

with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
    listener.bind((HOST, PORT))
    listener.listen()
    conn, address = listener.accept()
    with conn:
        print(f"Connection from {address}")
        conn.sendall(b"Hello, Client!")
