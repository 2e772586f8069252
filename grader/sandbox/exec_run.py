"""A process started with `docker exec` in a running container, with the interface of Running.

Long-lived containers (grader.sandbox.student_host, grader.sandbox.peer_host) run one program
after another by exec instead of starting a container for each. An ExecRun keeps the exec's
stdin open and reads its stdout and stderr as they come (bounded), so the grader can:
- wait for the process to end, read its last output (READY, LISTEN, RUN and REPORT lines),
  as it reads a container's log;
- signal it by writing the signal's name on its stdin, a line each: the engine cannot signal
  an exec'd process, and a command on an open connection needs no new process in the
  container (run_bounded.py's host mode and probes/stop_on_stdin.py act on these lines).

Closing the connection ends the process's stdin, which those programs take as "the grader is
gone": they stop. `id` is the container's, so a capture can join its network namespace.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

import docker.errors
from docker.utils.socket import frames_iter

from grader import interrupts
from grader.errors import InfrastructureError
from grader.sandbox.containers import ExitState, Running

STDOUT_KEPT_BYTES = 1 << 20
"""The most of a process's stdout kept, as Docker's log of a container keeps 1 MB."""
STDERR_KEPT_BYTES = 64 << 10
CLOSE_WAIT_S = 10.0
"""How long `close` waits for a process told to stop before it gives up on it."""


class ExecRun(Running):
    """`command` exec'd in `container` (a running Docker SDK Container), as user `user`.

    `output_limit_bytes`: the most `output` returns. `env` is added to the container's own.
    Raises InfrastructureError when the engine refuses the exec.
    """

    def __init__(
        self,
        client: Any,
        container: Any,
        command: list[str],
        output_limit_bytes: int,
        *,
        env: dict[str, str] | None = None,
        user: str = "",
    ) -> None:
        super().__init__(container, output_limit_bytes)
        self.owner: Any = None
        """The long-lived host this runs in (its `capture_host()` captures in its namespace)."""
        self._api = client.api
        self._stdout = bytearray()
        self._stderr = bytearray()
        self._done = threading.Event()
        self._exit_code: int | None = None
        try:
            created = self._api.exec_create(
                container.id,
                command,
                stdin=True,
                stdout=True,
                stderr=True,
                environment=env or None,
                workdir="/",
                user=user,
            )
            self._exec_id = str(created["Id"])
            self._socket = self._api.exec_start(self._exec_id, socket=True)
        except docker.errors.APIError as e:
            raise InfrastructureError(f"cannot run {command[:2]} in its container: {e}") from e
        # The socket the SDK hands over wraps the connection (SocketIO for a local engine);
        # writing and shutting down need the connection itself.
        self._raw = getattr(self._socket, "_sock", self._socket)
        self._reader = threading.Thread(target=self._read, name="socketlab-exec", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for stream, data in self._frames():
                kept, limit = (
                    (self._stdout, STDOUT_KEPT_BYTES)
                    if stream == 1
                    else (self._stderr, STDERR_KEPT_BYTES)
                )
                kept += data
                if len(kept) > limit:
                    del kept[: len(kept) - limit]
        except (OSError, ValueError):
            pass  # the container was removed, or the grader closed the connection
        finally:
            self._done.set()

    def _frames(self) -> Iterator[tuple[int, bytes]]:
        """The attach stream's frames: an 8-byte header (stream, 3 zero bytes, length, big
        endian), then that many bytes (Docker Engine API, "Attach to a container").

        Read here with blocking recv() on the connection itself: the SDK's reader polls the
        socket before each read, which over TLS misses data already decrypted into the SSL
        object's buffer and waits for the next record.
        """
        recv = getattr(self._raw, "recv", None)
        if recv is None:  # a connection without recv(): the SDK's own reader
            yield from frames_iter(self._socket, False)  # type: ignore[no-untyped-call]
            return
        with suppress(OSError, AttributeError):
            self._raw.settimeout(None)  # the API client's timeout is for requests, not this

        def exactly(size: int) -> bytes | None:
            data = bytearray()
            while len(data) < size:
                chunk = recv(min(size - len(data), 1 << 16))
                if not chunk:
                    return None
                data += chunk
            return bytes(data)

        while (header := exactly(8)) is not None:
            stream, size = header[0], int.from_bytes(header[4:8], "big")
            data = exactly(size) if size else b""
            if data is None:
                return
            yield stream, data

    @property
    def ended(self) -> bool:
        """Whether the process's output has ended (it exited, or its container went)."""
        return self._done.is_set()

    def exit_code(self) -> int | None:
        """The process's exit status once it ended, else None (-1: the engine lost it)."""
        if not self._done.is_set():
            return None
        if self._exit_code is None:
            with suppress(docker.errors.APIError):
                inspected = self._api.exec_inspect(self._exec_id)
                if not inspected.get("Running"):
                    code = inspected.get("ExitCode")
                    self._exit_code = int(code) if code is not None else -1
        return self._exit_code

    def wait_exit(self, timeout_s: float) -> ExitState | None:
        """The exit state once the process ends, or None if it still runs at the timeout."""
        if not interrupts.wait_for(lambda: self._done.wait(timeout_s)):
            return None
        return self.state()

    def state(self) -> ExitState:
        return ExitState(exit_code=self.exit_code(), oom_killed=False)

    def is_running(self) -> bool:
        return not self._done.is_set()

    def signal(self, name: str) -> None:
        """Writes `name` (SIGTERM, SIGINT, SIGUSR2) as a line on the process's stdin."""
        if self._done.is_set():
            return
        with suppress(OSError):
            self._raw.sendall(f"{name}\n".encode("ascii"))

    def output(self, *, stdout: bool) -> bytes:
        """The last bytes of stdout or stderr; while the process runs, whole lines only (a
        line read in the middle of its frames would not parse)."""
        kept = bytes(self._stdout if stdout else self._stderr)
        if not self._done.is_set():
            kept = kept[: kept.rfind(b"\n") + 1]
        return kept[-self.output_limit_bytes :]

    def hang_up(self) -> None:
        """Closes the connection: the process's stdin ends (as when the grader dies)."""
        with suppress(OSError):
            self._raw.shutdown(socket.SHUT_RDWR)
        with suppress(OSError):
            self._socket.close()

    def close(self, stop: str = "SIGTERM") -> bool:
        """Ends the run: a process still running is sent `stop` and waited for CLOSE_WAIT_S.

        Returns False when it still ran then (the caller removes its container).
        """
        ended = True
        if not self._done.is_set():
            self.signal(stop)
            ended = self._done.wait(CLOSE_WAIT_S)
        self.hang_up()
        if ended:
            self._reader.join(timeout=5.0)
        return ended
