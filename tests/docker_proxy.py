"""A Unix-socket proxy to the Docker engine's socket, so a test can lose the engine for real.

python tests/docker_proxy.py LISTEN_SOCKET UPSTREAM_SOCKET

It prints `ready` once it listens. Killing it (SIGKILL) closes every connection at once, which
is what a grader sees when the Docker engine dies: the calls in flight fail and new connections
are refused.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading

CHUNK_BYTES = 65536


def pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copies bytes from `source` to `sink` until `source` ends, then half-closes `sink`."""
    with contextlib.suppress(OSError):
        while data := source.recv(CHUNK_BYTES):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def serve(listen_path: str, upstream_path: str) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(listen_path)
    listener.listen(64)
    print("ready", flush=True)
    while True:
        client, _ = listener.accept()
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(upstream_path)
        except OSError:
            client.close()
            continue
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=pipe, args=(source, sink), daemon=True).start()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
