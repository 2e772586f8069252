"""Lab 02 client: send standard input to the echo server, write the echo to standard output.

Run it:  printf 'hello' | python3 client.py
"""

import os
import socket
import sys

HOST = os.environ.get("SERVER_HOST", "localhost")
PORT = int(os.environ.get("SERVER_PORT", "65433"))

# TODO 1: read all of stdin as bytes (sys.stdin.buffer), not one line of text.
data = sys.stdin.readline().encode()

# TODO 2: if the server is not there, print one line on stderr and exit with status 1.
with socket.create_connection((HOST, PORT)) as sock:
    sock.sendall(data)
    # TODO 3: shut down the sending side (sock.shutdown(socket.SHUT_WR)) so the server knows
    # you are done, then read the echo until recv() returns b"".
    reply = sock.recv(1024)

# TODO 4: write exactly the bytes received (sys.stdout.buffer.write), no added newline.
print(reply.decode())
