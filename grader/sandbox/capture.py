"""A packet capture inside another container's network namespace, complete when it ends.

tcpdump runs in a grader-owned helper that joins the observed container's namespace; only
the helper gets NET_RAW and NET_ADMIN. It is confirmed listening before any traffic the
grader causes, and stopped with a signal so that the file is flushed and whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from grader.errors import InfrastructureError
from grader.sandbox.containers import LabContext, Running
from grader.sandbox.waiting import Poll

CAPTURES_MOUNT = "/captures"
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
            self.helper.signal("SIGINT")  # tcpdump writes what it buffered, then exits
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
    directory.chmod(0o777)  # tcpdump writes as root in its container, maybe another uid here
    command = [
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
        f"{CAPTURES_MOUNT}/{name}.pcap",
    ]
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
                    volumes={str(directory): {"bind": CAPTURES_MOUNT, "mode": "rw"}},
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
