"""Runs a student's program and keeps a bounded record of what it printed.

The container's main process (under Docker's init). It starts the program with its stdout
and stderr on pipes, drains them as fast as they come so a flood never blocks or fills
anything, and keeps the first and the last `keep_bytes // 2` bytes of each stream. At the
end it prints one line `RUN {json}` with the exit status and both streams.

Signals: SIGTERM is passed on to the program (its own shutdown is under test); SIGUSR2 is
the grader's "time is up": the program is killed and the record is printed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from typing import Any


class Stream:
    def __init__(self, keep_bytes: int) -> None:
        self.half = max(1, keep_bytes // 2)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.digest = hashlib.sha256()

    def add(self, data: bytes) -> None:
        self.total += len(data)
        self.digest.update(data)
        room = self.half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            del self.tail[: max(0, len(self.tail) - self.half)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "head": base64.b64encode(bytes(self.head)).decode(),
            "tail": base64.b64encode(bytes(self.tail)).decode(),
            "total": self.total,
            "sha256": self.digest.hexdigest(),
        }


def main() -> None:
    options = json.loads(sys.argv[1])
    stdin_path = options.get("stdin")
    with open(stdin_path, "rb") if stdin_path else open(os.devnull, "rb") as stdin:
        run(options, stdin)


def run(options: dict[str, Any], stdin: Any) -> None:
    started = time.monotonic()
    child = subprocess.Popen(
        options["argv"], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    killed_by_grader = False

    def forward(signum: int, frame: Any) -> None:
        nonlocal killed_by_grader
        if signum == signal.SIGUSR2:
            killed_by_grader = True
            child.kill()
        else:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGUSR2, forward)

    streams = {"stdout": Stream(options["keep_bytes"]), "stderr": Stream(options["keep_bytes"])}
    selector = selectors.DefaultSelector()
    assert child.stdout is not None and child.stderr is not None
    selector.register(child.stdout, selectors.EVENT_READ, streams["stdout"])
    selector.register(child.stderr, selectors.EVENT_READ, streams["stderr"])
    while selector.get_map():
        events = selector.select(timeout=0.5)
        for key, _ in events:
            data = os.read(key.fd, 1 << 16)
            if data:
                key.data.add(data)
            else:
                selector.unregister(key.fileobj)
        if not events and child.poll() is not None:
            break  # a process it left behind still holds the pipes; the program is done
    status = child.wait()
    record = {
        "elapsed_s": round(time.monotonic() - started, 3),
        "status": status if status >= 0 else 128 - status,
        "signal": -status if status < 0 else None,
        "killed_by_grader": killed_by_grader,
        **{name: stream.as_dict() for name, stream in streams.items()},
    }
    sys.stdout.write("RUN " + json.dumps(record) + "\n")
    sys.stdout.flush()
    sys.exit(0)


if __name__ == "__main__":
    main()
