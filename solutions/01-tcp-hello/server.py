"""Lab 01 reference server: greet one client over TCP, close in an orderly way, exit 0."""

import os
import socket

HOST = "0.0.0.0"
PORT = int(os.environ.get("SERVER_PORT", "65432"))
GREETING = b"Hello, Client!"

with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, PORT))
    listener.listen()
    conn, address = listener.accept()
    with conn:
        print(f"Connection from {address[0]}:{address[1]}")
        conn.sendall(GREETING)
