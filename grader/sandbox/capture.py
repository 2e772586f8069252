"""A packet capture inside another container's network namespace, complete when it ends.

tcpdump runs in a grader-owned helper that joins the observed container's namespace; only
the helper gets NET_RAW and NET_ADMIN. It is confirmed listening before any traffic the
grader causes, and stopped with a signal so that the file is flushed and whole.

The file is bounded: tcpdump writes into probes/capture_bounded.py, which keeps whole
records up to CAPTURE_LIMIT_BYTES or CAPTURE_LIMIT_PACKETS and only counts the rest, and
writes a CaptureSummary beside the pcap that says what was left out. A flooding program
therefore gives a capture of a few MB that still parses, never hundreds of MB.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from grader.errors import InfrastructureError
from grader.sandbox.containers import PROBES_DIR, PROBES_MOUNT, LabContext, Running
from grader.sandbox.waiting import Poll

CAPTURES_MOUNT = "/captures"
CAPTURE_LIMIT_BYTES = 1 << 20
"""The most a capture file holds. Every check's own traffic is a few KB (the 8 MiB echo
checks take no capture); 1 MB still keeps some 700 full-size frames of a flood, far more
than a ladder shows, and keeps a batch's output small (lab 03 captures six checks)."""
CAPTURE_LIMIT_PACKETS = 10_000
"""Also bounds the grader's memory for floods of tiny packets (one Packet object each)."""
READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


class PacketCapture:
    """A running capture; `stop()` ends it and returns the finished pcap file."""

    def __init__(self, helper: Running, pcap: Path) -> None:
        self.helper = helper
        self.pcap = pcap
        self.stopped = False

    def stop(self) -> Path:
        if not self.stopped:
            self.stopped = True
            # The writer passes it on to tcpdump, which writes what it buffered and exits;
            # then the writer writes the summary and exits too.
            self.helper.signal("SIGINT")
            if self.helper.wait_exit(STOP_TIMEOUT_S) is None:
                raise InfrastructureError("tcpdump did not stop; the capture may be incomplete")
        return self.pcap


@contextmanager
def capture(
    context: LabContext, observed: Running, directory: Path, name: str
) -> Iterator[PacketCapture | None]:
    """Captures everything on the observed container's eth0 into directory/name.pcap.

    Yields None when the observed program exited before the capture could attach: a
    crashed submission is an observation, not an infrastructure failure.
    """
    directory.mkdir(parents=True, exist_ok=True)
    # The writer runs as root in its container but without CAP_DAC_OVERRIDE, and the
    # grader may be another uid: the directory must be writable by mode. Its parent, the
    # run's scratch directory, is 0o700, so no other user of this host reaches it.
    directory.chmod(0o777)
    tcpdump = [
        "tcpdump",
        "-i",
        "eth0",
        "-n",
        "-U",
        # Hand each packet over at once: otherwise the kernel batches them for up to a
        # second, and a batch is lost when the observed container exits first.
        "--immediate-mode",
        "-s",
        "0",
        "-Z",
        "root",
        "-w",
        "-",
    ]
    options = {
        "pcap": f"{CAPTURES_MOUNT}/{name}.pcap",
        "limit_bytes": CAPTURE_LIMIT_BYTES,
        "limit_packets": CAPTURE_LIMIT_PACKETS,
        "tcpdump": tcpdump,
    }
    command = ["python3", f"{PROBES_MOUNT}/capture_bounded.py", json.dumps(options)]
    with ExitStack() as stack:
        try:
            helper = stack.enter_context(
                context.tool(
                    command,
                    "capture",
                    share_network_of=observed,
                    # -Z root keeps tcpdump from switching to its own user, which it does with
                    # setuid/setgid even when the target is root: hence SETUID and SETGID.
                    capabilities=("NET_RAW", "NET_ADMIN", "SETUID", "SETGID"),
                    volumes={
                        str(directory): {"bind": CAPTURES_MOUNT, "mode": "rw"},
                        str(PROBES_DIR): {"bind": PROBES_MOUNT, "mode": "ro"},
                    },
                )
            )
        except InfrastructureError:
            if observed.is_running():
                raise
            yield None  # the program already exited (it crashed): there is nothing to capture
            return

        def started_listening() -> bool | None:
            if b"listening on" in helper.output(stdout=False):
                return True
            return None if helper.is_running() else False

        if not Poll(READY_TIMEOUT_S).until(started_listening):
            if not observed.is_running():
                yield None  # its network went away with it before tcpdump could attach
                return
            raise InfrastructureError(
                "tcpdump did not start listening:\n"
                + helper.output(stdout=False).decode("utf-8", "replace")[-2000:]
            )
        running = PacketCapture(helper, directory / f"{name}.pcap")
        try:
            yield running
        finally:
            running.stop()
