"""A packet capture inside another container's network namespace, complete when it ends.

tcpdump runs in a grader-owned helper that joins the observed container's namespace; only
the helper gets NET_RAW and NET_ADMIN. It is confirmed listening before any traffic the
grader causes, and stopped with a signal so that the file is flushed and whole.

The file is bounded: tcpdump writes into probes/capture_bounded.py, which keeps whole
records up to CAPTURE_LIMIT_BYTES or CAPTURE_LIMIT_PACKETS and only counts the rest, and
writes a CaptureSummary beside the pcap that says what was left out. A flooding program
therefore gives a capture of a few MB that still parses, never hundreds of MB.

The helper writes into the run's captures volume (grader.sandbox.volumes), not a folder of
the grader's machine, which the engine may not share; when it has stopped, the grader reads
the pcap and its summary back from it through the engine's archive API, within the same
bounds, into a local folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from grader.errors import InfrastructureError, with_output
from grader.probes.capture_summary import CaptureSummary, summary_path
from grader.sandbox.containers import PROBES_MOUNT, LabContext, Running, container_lifetime_s
from grader.sandbox.exec_host import ExecHost
from grader.sandbox.exec_run import ExecRun
from grader.sandbox.volumes import read_file
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
PCAP_HEADER_BYTES = 24
SUMMARY_PREFIX = "CAPTURE "
"""How capture_bounded.py's line with the summary begins."""
CAPTURE_CAPABILITIES = ("NET_RAW", "NET_ADMIN", "SETUID", "SETGID")
"""-Z root keeps tcpdump from switching to its own user, which it does with setuid/setgid even
when the target is root: hence SETUID and SETGID beside the capture's own two."""


def _volumes(context: LabContext) -> dict[str, dict[str, str]]:
    # The volume is the engine's (root's, 0o755): the writer, root without CAP_DAC_OVERRIDE,
    # writes there as its owner.
    return {
        context.files.captures(): {"bind": CAPTURES_MOUNT, "mode": "rw"},
        context.files.probes(): {"bind": PROBES_MOUNT, "mode": "ro"},
    }


class CaptureHost(ExecHost):
    """One capture container in a long-lived container's network namespace, for all its captures.

    A StudentHost or ServerPeerHost runs one scenario after another; instead of a capture
    container per scenario, this one idles in the observed container's namespace and each
    capture is a new tcpdump in it (`docker exec`), writing its own pcap: the captures are
    split per scenario by being separate runs. The owner retires it (`retire`) after the
    observed container goes. Raises InfrastructureError when the engine refuses to start it.
    """

    def __init__(self, context: LabContext, observed: Running) -> None:
        idle_s = container_lifetime_s()
        starting = context.tool(
            ["sleep", f"{idle_s:g}"],
            "capture",
            share_network_of=observed,
            capabilities=CAPTURE_CAPABILITIES,
            volumes=_volumes(context),
        )
        super().__init__(context, starting, idle_s)
        self._in_use = 0
        self._retired = False

    def retire(self) -> None:
        """Discards this host now, or, while a capture runs in it, once that capture ends."""
        self._retired = True
        if not self._in_use:
            self.discard()

    def usable(self) -> bool:
        return not self._retired and super().usable()

    @contextmanager
    def run(self, command: list[str]) -> Iterator[ExecRun]:
        """`command` by exec here; on exit stopped if it still runs (it takes this host along
        when it does not stop)."""
        run = self.exec(command)
        self._in_use += 1
        try:
            yield run
        except BaseException:
            self.discard()
            raise
        finally:
            self._in_use -= 1
            if not run.close("SIGINT") or self._retired:
                self.discard()


class ObservedHost(ExecHost):
    """An ExecHost whose runs can be captured: `capture_host()` gives the CaptureHost in its
    network namespace, started on first use and retired after this host's container goes."""

    def __init__(self, context: LabContext, starting: Any, idle_s: float) -> None:
        super().__init__(context, starting, idle_s)
        self._capture: CaptureHost | None = None

    def capture_host(self) -> CaptureHost:
        """The capture container in this host's network namespace, started on first use.

        Raises InfrastructureError when the engine refuses to start it.
        """
        assert self.running is not None, "the host is started"
        if self._capture is not None and not self._capture.usable():
            self._capture.discard()
            self._capture = None
        if self._capture is None:
            self._capture = CaptureHost(self.context, self.running).__enter__()
        return self._capture

    def _discarded(self) -> None:
        if self._capture is not None:
            # After its namespace's owner: a capture still running (a program stopped with
            # its host) keeps its pcap until it is read.
            self._capture.retire()


def tcpdump_listening(helper: Any) -> bool:
    """Waits up to READY_TIMEOUT_S for the capture `helper` (a Running or LocalRunning) to
    say tcpdump is listening; False when it ended or the time ran out first."""

    def started_listening() -> bool | None:
        if b"listening on" in helper.output(stdout=False):
            return True
        return None if helper.is_running() else False

    return bool(Poll(READY_TIMEOUT_S).until(started_listening))


class PacketCapture:
    """A running capture; `stop()` ends it and returns the finished pcap file."""

    def __init__(self, helper: Running, pcap: Path) -> None:
        self.helper = helper
        self.pcap = pcap
        """Where the grader keeps the finished pcap, on its own machine."""
        self.stopped = False

    def stop(self) -> Path:
        """Stops tcpdump and copies the pcap (and its summary) out of the helper.

        Returns the local pcap; raises InfrastructureError when tcpdump does not stop or the
        files cannot be read back.
        """
        if not self.stopped:
            self.stopped = True
            # The writer passes it on to tcpdump, which writes what it buffered and exits;
            # then the writer writes the summary and exits too.
            self.helper.signal("SIGINT")
            if self.helper.wait_exit(STOP_TIMEOUT_S) is None:
                raise InfrastructureError("tcpdump did not stop; the capture may be incomplete")
            self._copy_out()
        return self.pcap

    def _copy_out(self) -> None:
        """The pcap, from the stopped helper's volume, and its summary, into self.pcap's folder.

        The summary comes from the writer's last `CAPTURE ` line (the same fields as the file
        it writes beside the pcap): one archive read per capture, not two. What the writer did
        not get to write (it was killed) is left out, as a missing local file would have been.
        """
        inside = f"{CAPTURES_MOUNT}/{self.pcap.name}"
        data = read_file(self.helper.container, inside, CAPTURE_LIMIT_BYTES + PCAP_HEADER_BYTES)
        if data is not None:
            self.pcap.write_bytes(data)
        summary = _summary(self.helper.output(stdout=True))
        if summary is not None:
            summary.write(summary_path(self.pcap))


def _summary(output: bytes) -> CaptureSummary | None:
    """The CaptureSummary on the writer's last `CAPTURE ` line, or None if it printed none."""
    for line in reversed(output.decode("utf-8", "replace").splitlines()):
        if line.startswith(SUMMARY_PREFIX):
            try:
                fields = json.loads(line.removeprefix(SUMMARY_PREFIX))
                return CaptureSummary(
                    **{name: int(fields[name]) for name in CaptureSummary.__dataclass_fields__}
                )
            except (ValueError, KeyError, TypeError):
                return None
    return None


@contextmanager
def capture(
    context: LabContext,
    observed: Running,
    directory: Path,
    name: str,
    host: CaptureHost | None = None,
) -> Iterator[PacketCapture | None]:
    """Captures everything on the observed container's eth0 into directory/name.pcap.

    In `host` (a CaptureHost in `observed`'s namespace) when given, else in a capture
    container of its own.

    `directory` is on the grader's machine (a folder of the run's scratch directory); the
    pcap arrives there when the capture is stopped. `name` must be unique in the run (the
    run's captures share one volume). Yields None when the observed program exited before
    the capture could attach: a crashed submission is an observation, not an
    infrastructure failure.
    """
    directory.mkdir(parents=True, exist_ok=True)
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
    if host is not None:
        options["stop_on_stdin"] = True
    command = ["python3", f"{PROBES_MOUNT}/capture_bounded.py", json.dumps(options)]
    with ExitStack() as stack:
        helper: Any
        try:
            if host is not None:
                helper = stack.enter_context(host.run(command))
            else:
                helper = stack.enter_context(
                    context.tool(
                        command,
                        "capture",
                        share_network_of=observed,
                        capabilities=CAPTURE_CAPABILITIES,
                        volumes=_volumes(context),
                    )
                )
        except InfrastructureError:
            if observed.is_running():
                raise
            yield None  # the program already exited (it crashed): there is nothing to capture
            return

        if not tcpdump_listening(helper):
            if not observed.is_running():
                yield None  # its network went away with it before tcpdump could attach
                return
            raise InfrastructureError(
                with_output("tcpdump did not start listening", helper.output(stdout=False))
            )
        running = PacketCapture(helper, directory / f"{name}.pcap")
        try:
            yield running
        finally:
            running.stop()
