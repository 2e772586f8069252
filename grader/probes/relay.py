"""A UDP relay that impairs traffic deterministically, for labs where the kernel has no netem.

The program under test sends to the relay (it is SERVER_HOST); the relay forwards to the
real peer through a separate upstream socket per client address, and applies the plan from
impairment.py in each direction. Prints READY once bound; on SIGTERM prints one line
`REPORT {json}` listing every datagram with what was done to it.
"""

from __future__ import annotations

import base64
import contextlib
import heapq
import itertools
import json
import select
import signal
import socket
import sys
import time
from typing import Any

from impairment import Plan, decide  # type: ignore[import-not-found]  # beside it in /probes

REORDER_HOLD_S = 2.0


class Terminated(Exception):
    pass


def on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


class Relay:
    def __init__(self, options: dict[str, Any]) -> None:
        self.plan = Plan.from_json(options["plan"])
        self.upstream = (socket.gethostbyname(options["upstream_host"]), options["upstream_port"])
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("0.0.0.0", options["port"]))
        self.upstreams: dict[tuple[str, int], socket.socket] = {}
        self.clients: dict[socket.socket, tuple[str, int]] = {}
        self.counts: dict[tuple[tuple[str, int], str], int] = {}
        self.due: list[tuple[float, int, socket.socket, bytes, Any]] = []
        self.order = itertools.count()
        self.held: dict[tuple[tuple[str, int], str], tuple[socket.socket, bytes, Any]] = {}
        self.log: list[dict[str, Any]] = []

    def upstream_for(self, client: tuple[str, int]) -> socket.socket:
        if client not in self.upstreams:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.connect(self.upstream)
            self.upstreams[client] = sock
            self.clients[sock] = client
        return self.upstreams[client]

    def handle(self, client: tuple[str, int], direction: str, payload: bytes) -> None:
        key = (client, direction)
        index = self.counts[key] = self.counts.get(key, 0) + 1
        decision = decide(self.plan, direction, index, payload)
        self.log.append(
            {
                "client": f"{client[0]}:{client[1]}",
                "direction": direction,
                "index": index,
                "payload": base64.b64encode(payload[:64]).decode(),
                "size": len(payload),
                "action": decision.action,
                "delay_ms": decision.delay_ms,
                "reason": decision.reason,
            }
        )
        if direction == "to_server":
            out, target = self.upstream_for(client), None
        else:
            out, target = self.front, client
        now = time.monotonic()
        if decision.action == "drop":
            return
        if decision.action == "reorder":
            self.held[key] = (out, payload, target)
            self.schedule(now + REORDER_HOLD_S, out, payload, target, held=key)
            return
        delay = decision.delay_ms / 1000 if decision.action == "delay" else 0.0
        copies = 2 if decision.action == "duplicate" else 1
        for _ in range(copies):
            self.schedule(now + delay, out, payload, target)
        if key in self.held:  # a reordered datagram goes right after the next one
            held_out, held_payload, held_target = self.held.pop(key)
            self.schedule(now + delay, held_out, held_payload, held_target)

    def schedule(
        self, when: float, out: socket.socket, payload: bytes, target: Any, held: Any = None
    ) -> None:
        heapq.heappush(self.due, (when, next(self.order), out, payload, (target, held)))

    def send_due(self) -> None:
        now = time.monotonic()
        while self.due and self.due[0][0] <= now:
            _, _, out, payload, (target, held) = heapq.heappop(self.due)
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
        while True:
            timeout = max(0.0, self.due[0][0] - time.monotonic()) if self.due else 0.5
            readable, _, _ = select.select([self.front, *self.clients], [], [], timeout)
            for sock in readable:
                try:
                    payload, source = sock.recvfrom(65535)
                except OSError:
                    continue
                if sock is self.front:
                    self.handle(source, "to_server", payload)
                else:
                    self.handle(self.clients[sock], "to_client", payload)
            self.send_due()


def main() -> None:
    signal.signal(signal.SIGTERM, on_sigterm)
    relay = Relay(json.loads(sys.argv[1]))
    with contextlib.suppress(Terminated):
        relay.run()
    print("REPORT " + json.dumps({"datagrams": relay.log}), flush=True)


if __name__ == "__main__":
    main()
