"""A UDP relay that impairs traffic deterministically, for labs where the kernel has no netem.

The program under test sends to the relay (it is SERVER_HOST); the relay forwards to the
real peer through a separate upstream socket per client address, and applies the plan from
impairment.py in each direction. The real peer is `upstream_host`:`upstream_port`, or, with
`echo_upstream: true`, a model UDP echo server inside the relay, on a loopback port.

Prints READY once bound (on `bind`, default 0.0.0.0); on SIGTERM, at its deadline
(`deadline_s` in its options) or on an error of its own it prints one line `REPORT {json}`:
what it did to each datagram (the first LOG_KEPT of them; `left_out` counts the rest),
counts per direction and action, why it stopped and how long it ran. Each logged datagram
carries `at_ms`, when the relay received it (milliseconds since the relay started).

A program that floods the relay never makes it unbounded: the log is capped, at most
MAX_CLIENTS client addresses get an upstream socket, and at most MAX_QUEUED datagrams
(MAX_QUEUED_BYTES in all) wait to be sent; past those limits datagrams are dropped and
counted, as a full network would.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import select
import signal
import socket
import sys
import time
import traceback
from typing import Any

from impairment import Decision, Plan, decide  # type: ignore[import-not-found]  # beside it in /probes

REORDER_HOLD_S = 2.0
LOG_KEPT = 300
PAYLOAD_KEPT_BYTES = 64
MAX_CLIENTS = 64
MAX_QUEUED = 4096
MAX_QUEUED_BYTES = 16 << 20  # 4096 datagrams of 64 KB would be 256 MB: twice the container
DEFAULT_DEADLINE_S = 600.0
REPORT_LIMIT_BYTES = 256 * 1024


class Terminated(Exception):
    pass


def on_sigterm(signum: int, frame: Any) -> None:
    # One is enough: a second SIGTERM must not interrupt the cleanup or the report.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


class Relay:
    def __init__(self, options: dict[str, Any]) -> None:
        self.plan = Plan.from_json(options["plan"])
        self.echo: socket.socket | None = None
        if options.get("echo_upstream"):
            # The real peer is a model echo server in this process, on a loopback port of
            # its own: the same datagrams back to each upstream socket, one container less.
            self.echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.echo.bind(("127.0.0.1", 0))
            self.upstream = self.echo.getsockname()
        else:
            host = socket.gethostbyname(options["upstream_host"])
            self.upstream = (host, options["upstream_port"])
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind((options.get("bind", "0.0.0.0"), options["port"]))
        self.upstreams: dict[tuple[str, int], socket.socket] = {}
        self.clients: dict[socket.socket, tuple[str, int]] = {}
        self.counts: dict[tuple[tuple[str, int], str], int] = {}
        self.due: list[tuple[float, int, socket.socket, bytes, Any]] = []
        self.queued_bytes = 0
        self.order = itertools.count()
        self.held: dict[tuple[tuple[str, int], str], tuple[socket.socket, bytes, Any]] = {}
        self.log: list[dict[str, Any]] = []
        self.left_out = 0
        self.totals: dict[str, int] = {}
        self.started = time.monotonic()
        self.deadline = self.started + float(options.get("deadline_s") or DEFAULT_DEADLINE_S)
        self.stopped: str | None = None

    def count(self, direction: str, action: str) -> None:
        key = f"{direction} {action}"
        self.totals[key] = self.totals.get(key, 0) + 1

    def upstream_for(self, client: tuple[str, int]) -> socket.socket | None:
        """The socket that forwards this client's datagrams; None past MAX_CLIENTS."""
        if client not in self.upstreams:
            if len(self.upstreams) >= MAX_CLIENTS:
                return None
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.connect(self.upstream)
            self.upstreams[client] = sock
            self.clients[sock] = client
        return self.upstreams[client]

    def handle(self, client: tuple[str, int], direction: str, payload: bytes) -> None:
        key = (client, direction)
        index = self.counts[key] = self.counts.get(key, 0) + 1
        decision = decide(self.plan, direction, index, payload)
        out: socket.socket | None = self.front
        target: Any = client
        if direction == "to_server":
            out, target = self.upstream_for(client), None
        if out is None:
            decision = Decision("drop", reason=f"more than {MAX_CLIENTS} client addresses")
        elif len(self.due) >= MAX_QUEUED:
            decision = Decision("drop", reason=f"more than {MAX_QUEUED} datagrams waiting")
        elif self.queued_bytes + len(payload) > MAX_QUEUED_BYTES:
            decision = Decision("drop", reason=f"more than {MAX_QUEUED_BYTES} bytes waiting")
        self.record(client, direction, index, payload, decision)
        now = time.monotonic()
        if decision.action == "drop" or out is None:
            return
        if decision.action == "reorder":
            self.held[key] = (out, payload, target)
            self.schedule(now + REORDER_HOLD_S, out, payload, target, held=key)
            return
        delay = decision.delay_ms / 1000 if decision.action == "delay" else 0.0
        self.schedule(now + delay, out, payload, target)
        if decision.action == "duplicate":
            for copy in range(1, decision.copies + 1):
                self.schedule(now + copy * decision.interval_ms / 1000, out, payload, target)
        if key in self.held:  # a reordered datagram goes right after the next one
            held_out, held_payload, held_target = self.held.pop(key)
            self.schedule(now + delay, held_out, held_payload, held_target)

    def record(
        self,
        client: tuple[str, int],
        direction: str,
        index: int,
        payload: bytes,
        decision: Decision,
    ) -> None:
        self.count(direction, decision.action)
        if len(self.log) >= LOG_KEPT:
            self.left_out += 1
            return
        self.log.append(
            {
                "client": f"{client[0]}:{client[1]}",
                "direction": direction,
                "index": index,
                "payload": base64.b64encode(payload[:PAYLOAD_KEPT_BYTES]).decode(),
                "size": len(payload),
                "action": decision.action,
                "delay_ms": decision.delay_ms,
                "reason": decision.reason,
                "copies": decision.copies if decision.action == "duplicate" else 0,
                "interval_ms": decision.interval_ms,
                "at_ms": round((time.monotonic() - self.started) * 1000),
            }
        )

    def schedule(
        self, when: float, out: socket.socket, payload: bytes, target: Any, held: Any = None
    ) -> None:
        heapq.heappush(self.due, (when, next(self.order), out, payload, (target, held)))
        self.queued_bytes += len(payload)

    def send_due(self) -> None:
        now = time.monotonic()
        while self.due and self.due[0][0] <= now:
            _, _, out, payload, (target, held) = heapq.heappop(self.due)
            self.queued_bytes -= len(payload)
            if held is not None:
                if held not in self.held:
                    continue  # already released after the next datagram
                del self.held[held]
            try:
                if target is None:
                    out.send(payload)
                else:
                    out.sendto(payload, target)
            except OSError:
                pass  # the peer is gone (ICMP unreachable): the datagram is lost, as on a network

    def run(self) -> None:
        print("READY", flush=True)
        while (left_s := self.deadline - time.monotonic()) > 0:
            timeout = max(0.0, self.due[0][0] - time.monotonic()) if self.due else 0.5
            timeout = min(timeout, left_s)
            echo = [self.echo] if self.echo is not None else []
            readable, _, _ = select.select([self.front, *self.clients, *echo], [], [], timeout)
            for sock in readable:
                if sock is self.echo:
                    self.echo_one()
                    continue
                try:
                    payload, source = sock.recvfrom(65535)
                except OSError:
                    continue
                if sock is self.front:
                    self.handle(source, "to_server", payload)
                else:
                    self.handle(self.clients[sock], "to_client", payload)
            self.send_due()
        self.stop("deadline")

    def echo_one(self) -> None:
        """The model echo server's work: one datagram back to the upstream socket it came from."""
        assert self.echo is not None
        try:
            payload, source = self.echo.recvfrom(65535)
            self.echo.sendto(payload, source)
        except OSError:
            pass

    def stop(self, reason: str) -> None:
        if self.stopped is None:
            self.stopped = reason

    def report_line(self) -> str:
        report = {
            "datagrams": self.log,
            "left_out": self.left_out,
            "totals": self.totals,
            "stopped": self.stopped or "done",
            "elapsed_s": round(time.monotonic() - self.started, 3),
        }
        text = "REPORT " + json.dumps(report)
        if len(text) > REPORT_LIMIT_BYTES:  # a bug of this script: say so instead of a cut line
            text = "REPORT " + json.dumps({"stopped": f"report too long ({len(text)} bytes)"})
        return text


def main() -> None:
    signal.signal(signal.SIGTERM, on_sigterm)
    import probe_options  # type: ignore[import-not-found]  # beside this file

    options = probe_options.read(sys.argv[1])
    relay = Relay(options)
    try:
        if options.get("stop_on_stdin"):  # inside: a stop may come at once (Terminated)
            import stop_on_stdin  # type: ignore[import-not-found]  # beside this file

            stop_on_stdin.start()
        relay.run()
    except Terminated:
        relay.stop("terminated")
    except Exception as e:  # the grader's own fault; still report what was seen
        traceback.print_exc()
        relay.stop(f"error: {type(e).__name__}: {e}")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print(relay.report_line(), flush=True)


if __name__ == "__main__":
    main()
