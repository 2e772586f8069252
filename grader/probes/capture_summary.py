"""What the bounded capture writer reports about a capture: its protocol with the grader.

The writer (capture_bounded.py, inside the capture helper) writes one JSON object to a file
beside the pcap when tcpdump ends; the grader reads it back with `CaptureSummary.read`.
Standard library only: the writer imports this module from /probes, the grader from
grader.probes.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

SUMMARY_SUFFIX = ".summary.json"


@dataclass(frozen=True)
class CaptureSummary:
    """How much of the traffic the pcap file holds.

    `kept_*` count the records written to the file (its 24-byte header not included);
    `left_out_*` count those seen after a limit was reached, which the file does not hold.
    `limit_bytes` and `limit_packets` are the limits the writer applied.
    """

    limit_bytes: int
    limit_packets: int
    kept_packets: int
    kept_bytes: int
    left_out_packets: int
    left_out_bytes: int

    @property
    def cut(self) -> bool:
        return self.left_out_packets > 0

    def write(self, path: Path) -> None:
        """Writes the summary as JSON, whole or not at all (a rename is atomic)."""
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(asdict(self)))
        os.replace(partial, path)

    @classmethod
    def read(cls, path: Path) -> CaptureSummary | None:
        """The summary in `path`, or None when it is missing or not one (the writer died)."""
        try:
            fields = json.loads(path.read_text())
            return cls(**{name: int(fields[name]) for name in cls.__dataclass_fields__})
        except (OSError, ValueError, KeyError, TypeError):
            return None


def summary_path(pcap: Path) -> Path:
    """Where the summary of the capture in `pcap` is written: beside it."""
    return pcap.with_name(pcap.name + SUMMARY_SUFFIX)
