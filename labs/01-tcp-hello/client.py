"""Lab 01 client: connect to the server, print its greeting.

Run it:  python3 client.py
"""

import socket

# TODO 1: read the host from the SERVER_HOST environment variable (default "localhost").
HOST = "localhost"
# TODO 2: read the port from the SERVER_PORT environment variable (default 65432).
PORT = 65432

with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
    # TODO 3: if the server is not there, print a one-line error on stderr and exit with
    # status 1 instead of crashing with a traceback.
    sock.connect((HOST, PORT))
    # TODO 4: one recv() may return only part of what the server sent. Keep reading until
    # recv() returns b"" (the server closed the connection).
    data = sock.recv(1024)

print(f"Received from server: {data.decode()}")
