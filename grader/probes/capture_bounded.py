"""Runs tcpdump and copies its pcap stream to a file, keeping whole records up to a limit.

Usage: capture_bounded.py '{"pcap": PATH, "limit_bytes": N, "limit_packets": M,
"tcpdump": [ARGUMENTS], "stop_on_stdin": BOOL}' (stop_on_stdin: the stop may also come on
stdin, as stop_on_stdin.py reads it). tcpdump writes to this script's pipe (its arguments
must include `-w -`); its stderr is this script's, so "listening on" shows in the helper's
log as before.
Records are copied whole until the next one would take the file past `limit_bytes` or
`limit_packets`; from then on they are only counted, so a flood gives a file of at most
`limit_bytes` that still parses. SIGINT or SIGTERM is passed on to tcpdump, which flushes and
exits; then the summary (capture_summary.py) is written beside the pcap and this script exits
with tcpdump's status.
"""

from __future__ import annotations

import io
import json
import signal
import struct
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from capture_summary import CaptureSummary, summary_path  # type: ignore[import-not-found]

GLOBAL_HEADER_BYTES = 24
RECORD_HEADER_BYTES = 16
READ_BYTES = 1 << 16
MAGIC_LITTLE = {b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"}  # microsecond and nanosecond pcap


class BoundedPcapWriter:
    """Copies a pcap byte stream to `out`, whole records only, until a limit is reached."""

    def __init__(self, out: IO[bytes], limit_bytes: int, limit_packets: int) -> None:
        self.out = out
        self.limit_bytes = limit_bytes
        self.limit_packets = limit_packets
        self.pending = bytearray()
        self.caplen: struct.Struct | None = None
        self.kept_packets = self.kept_bytes = 0
        self.left_out_packets = self.left_out_bytes = 0
        self.full = False

    def feed(self, data: bytes) -> None:
        self.pending += data
        offset = 0
        if self.caplen is None:
            if len(self.pending) < GLOBAL_HEADER_BYTES:
                return
            magic = bytes(self.pending[:4])
            self.caplen = struct.Struct("<I" if magic in MAGIC_LITTLE else ">I")
            self.out.write(self.pending[:GLOBAL_HEADER_BYTES])
            offset = GLOBAL_HEADER_BYTES
        while len(self.pending) - offset >= RECORD_HEADER_BYTES:
            (length,) = self.caplen.unpack_from(self.pending, offset + 8)
            size = RECORD_HEADER_BYTES + length
            if len(self.pending) - offset < size:
                break
            self._record(offset, size)
            offset += size
        del self.pending[:offset]
        if not self.full:
            self.out.flush()  # as tcpdump -U would: a killed helper still leaves whole records

    def _record(self, offset: int, size: int) -> None:
        if not self.full and (
            self.kept_bytes + size > self.limit_bytes or self.kept_packets >= self.limit_packets
        ):
            self.full = True
            self.out.flush()
        if self.full:
            self.left_out_packets += 1
            self.left_out_bytes += size
            return
        self.out.write(self.pending[offset : offset + size])
        self.kept_packets += 1
        self.kept_bytes += size

    def finish(self) -> CaptureSummary:
        """The summary; a record cut off by the end of the stream counts as left out."""
        if self.caplen is not None and self.pending:
            self.left_out_packets += 1
            self.left_out_bytes += len(self.pending)
        self.out.flush()
        return CaptureSummary(
            limit_bytes=self.limit_bytes,
            limit_packets=self.limit_packets,
            kept_packets=self.kept_packets,
            kept_bytes=self.kept_bytes,
            left_out_packets=self.left_out_packets,
            left_out_bytes=self.left_out_bytes,
        )


def main(options: dict[str, Any]) -> int:
    pcap = Path(options["pcap"])
    started: list[subprocess.Popen[bytes]] = []
    stop_requested: list[int] = []

    def pass_on(signum: int, frame: object) -> None:
        stop_requested.append(signum)
        for process in started:
            process.send_signal(signum)

    # Before tcpdump starts: a stop that comes as soon as it listens must reach it.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, pass_on)
    if options.get("stop_on_stdin"):  # run by exec in a long-lived container (CaptureHost)
        import stop_on_stdin  # type: ignore[import-not-found]  # beside this file

        stop_on_stdin.start()
    tcpdump = subprocess.Popen(options["tcpdump"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    started.append(tcpdump)
    if stop_requested:
        tcpdump.send_signal(stop_requested[0])
    stream = tcpdump.stdout
    assert isinstance(stream, io.BufferedReader)
    with pcap.open("wb") as out:
        writer = BoundedPcapWriter(out, int(options["limit_bytes"]), int(options["limit_packets"]))
        while data := stream.read1(READ_BYTES):
            writer.feed(data)
        summary = writer.finish()
    status = tcpdump.wait()
    summary.write(summary_path(pcap))
    print("CAPTURE " + json.dumps(summary.__dict__), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
