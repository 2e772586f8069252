"""Bounded packet captures: the writer between tcpdump and the file, and reading what it kept."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from grader.checks import check_kinds
from grader.checks.base import Verdict
from grader.packets import pcap as pcap_module
from grader.packets.conversation import conversation
from grader.packets.ladder import ladder
from grader.packets.pcap import read_packets
from grader.probes.capture_summary import CaptureSummary, summary_path
from grader.sandbox.capture import CAPTURE_LIMIT_BYTES
from grader.sandbox.containers import PROBES_DIR
from grader.sandbox.waiting import Poll
from grader.scenarios.runner import DockerSubmissionRun
from grader.spec.loader import load_spec
from tests.conftest import socketlab
from tests.pcaps import first_fragment_of_udp, hello_exchange, udp_datagrams
from tests.submissions import REPOSITORY

WRITER = PROBES_DIR / "capture_bounded.py"
PCAP_HEADER_BYTES = 24


def run_writer(
    tmp_path: Path, tcpdump: list[str], limit_bytes: int, limit_packets: int = 1_000_000
) -> tuple[Path, subprocess.Popen[bytes]]:
    """Starts the real writer with `tcpdump` standing in for tcpdump (anything writing a pcap)."""
    pcap = tmp_path / "out" / "capture.pcap"
    pcap.parent.mkdir(exist_ok=True)
    options = {
        "pcap": str(pcap),
        "limit_bytes": limit_bytes,
        "limit_packets": limit_packets,
        "tcpdump": tcpdump,
    }
    process = subprocess.Popen(
        [sys.executable, str(WRITER), json.dumps(options)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    return pcap, process


def test_a_flood_is_cut_at_the_limit_on_a_record_boundary_and_still_parses(
    tmp_path: Path,
) -> None:
    flood = udp_datagrams(3000, 1400).write(tmp_path / "flood.pcap")  # about 4.4 MB
    limit = 1 << 20
    pcap, process = run_writer(tmp_path, ["cat", str(flood)], limit)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert PCAP_HEADER_BYTES < pcap.stat().st_size <= PCAP_HEADER_BYTES + limit
    summary = CaptureSummary.read(summary_path(pcap))
    assert summary is not None and summary.cut
    assert summary.kept_packets + summary.left_out_packets == 3000
    assert pcap.stat().st_size == PCAP_HEADER_BYTES + summary.kept_bytes
    assert b"CAPTURE " in out

    packets = read_packets(pcap)
    assert len(packets) == summary.kept_packets  # every kept record is whole
    assert packets.cut is not None
    assert packets.cut.left_out_packets == summary.left_out_packets
    talk = conversation(packets)
    assert talk.truncated and talk.udp[0].datagrams
    lines = ladder(talk, None)
    assert lines[-1].startswith(f"(the capture was cut at 1 MB: {summary.left_out_packets} more")


def test_a_small_capture_is_copied_whole_and_not_marked_cut(tmp_path: Path) -> None:
    source = hello_exchange().write(tmp_path / "hello.pcap")
    pcap, process = run_writer(tmp_path, ["cat", str(source)], 4 << 20)
    process.communicate(timeout=60)
    assert pcap.read_bytes() == source.read_bytes()
    packets = read_packets(pcap)
    assert packets.cut is None and len(packets) == 8
    assert not conversation(packets).truncated


def test_the_packet_limit_bounds_a_flood_of_tiny_packets(tmp_path: Path) -> None:
    flood = udp_datagrams(500, 4).write(tmp_path / "tiny.pcap")
    pcap, process = run_writer(tmp_path, ["cat", str(flood)], 4 << 20, limit_packets=100)
    process.communicate(timeout=60)
    assert len(read_packets(pcap)) == 100
    summary = CaptureSummary.read(summary_path(pcap))
    assert summary is not None and summary.left_out_packets == 400


SLOW_TCPDUMP = """
import signal, sys, time
data = open(sys.argv[1], "rb").read()
stop = []
signal.signal(signal.SIGINT, lambda *_: stop.append(1))
sys.stdout.buffer.write(data[:24]); sys.stdout.buffer.flush()
record = 16 + int.from_bytes(data[32:36], "little")
offset = 24
while not stop:
    if offset < len(data):
        sys.stdout.buffer.write(data[offset:offset + record]); sys.stdout.buffer.flush()
        offset += record
    time.sleep(0.01)
sys.exit(0)
"""


def test_sigint_reaches_tcpdump_and_the_writer_finishes_the_file(tmp_path: Path) -> None:
    """The grader stops a capture with SIGINT to the helper; the writer must pass it on."""
    source = udp_datagrams(5, 100).write(tmp_path / "five.pcap")
    fake = tmp_path / "fake_tcpdump.py"
    fake.write_text(SLOW_TCPDUMP)
    pcap, process = run_writer(tmp_path, [sys.executable, str(fake), str(source)], 4 << 20)
    written = Poll(30).until(
        lambda: True if pcap.exists() and pcap.stat().st_size >= source.stat().st_size else None
    )
    assert written, "the writer never copied the stream"
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=30)
    assert process.returncode == 0
    assert len(read_packets(pcap)) == 5
    assert CaptureSummary.read(summary_path(pcap)) is not None


def test_the_reader_bounds_its_memory_on_a_pcap_from_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pcap_module, "READ_LIMIT_BYTES", 50_000)
    path = udp_datagrams(100, 1000).write(tmp_path / "big.pcap")  # no summary beside it
    packets = read_packets(path)
    assert 0 < len(packets) < 100
    assert packets.cut is not None
    assert packets.cut.left_out_packets == 100 - len(packets)
    assert "cut at" in ladder(conversation(packets), None)[-1]


def test_a_record_cut_off_by_a_killed_writer_is_ignored(tmp_path: Path) -> None:
    path = hello_exchange().write(tmp_path / "cut.pcap")
    path.write_bytes(path.read_bytes()[:-5])
    assert len(read_packets(path)) == 7


def test_udp_size_comes_from_the_header_not_the_captured_fragment(tmp_path: Path) -> None:
    path = first_fragment_of_udp(8192).write(tmp_path / "fragment.pcap")
    (packet,) = read_packets(path)
    assert len(packet.payload) == 1472
    assert packet.size_bytes == 8192
    assert "8192 bytes" in ladder(conversation([packet]), None)[1]


def test_a_verdict_carries_the_cut_line_in_its_diagram(tmp_path: Path) -> None:
    flood = udp_datagrams(40, 1000).write(tmp_path / "flood.pcap")
    pcap, process = run_writer(tmp_path, ["cat", str(flood)], 10_000)
    process.communicate(timeout=60)
    talk = conversation(read_packets(pcap))
    verdict = Verdict(passed=False, summary="x", diagram=ladder(talk, None))
    assert any("the capture was cut at" in line for line in verdict.diagram), verdict


FLOODING_UDP_SERVER = """
import os, socket
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("0.0.0.0", int(os.environ["SERVER_PORT"])))
data, address = sock.recvfrom(65535)
while True:  # answers the first datagram with an endless stream
    sock.sendto(data * (1400 // max(1, len(data))), address)
"""


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@pytest.mark.docker
def test_a_flooding_udp_server_gets_a_capture_cut_at_the_limit_and_a_verdict_that_says_so(
    tmp_path: Path,
) -> None:
    submission = tmp_path / "flood"
    shutil.copytree(REPOSITORY / "solutions" / "03-udp-ping", submission)
    (submission / "server.py").write_text(FLOODING_UDP_SERVER)
    lab = load_spec(REPOSITORY / "labs" / "03-udp-ping" / "spec.yaml")
    check = next(c for c in lab.checks if c.kind == "udp_boundaries")
    kind = check_kinds()[check.kind]
    scenario = kind.scenario(check.params)
    with DockerSubmissionRun(lab, submission, frozenset({scenario})) as run:
        seen = run.observe(scenario)
        capture = getattr(seen, "capture", None)
        assert capture is not None
        run_directory = capture.pcap.parent.parent
        assert directory_bytes(run_directory) < 2 * CAPTURE_LIMIT_BYTES
        assert capture.pcap.stat().st_size <= CAPTURE_LIMIT_BYTES + PCAP_HEADER_BYTES
        cut = capture.conversation.cut
        assert cut is not None and cut.left_out_packets > 0
        assert capture.conversation.udp, "what was kept is still analysed"
        verdict = kind.verdict(check.params, seen, lab)
        drawn = ladder(capture.conversation, None)
    assert not verdict.passed, verdict
    assert drawn[-1].startswith("(the capture was cut at 1 MB: ")
    assert not run_directory.exists()


@pytest.mark.docker
def test_grading_a_flooding_server_keeps_the_output_directory_small(tmp_path: Path) -> None:
    """Six packet checks of lab 03, each capture kept: a few MB, never hundreds."""
    submission = tmp_path / "flood"
    shutil.copytree(REPOSITORY / "solutions" / "03-udp-ping", submission)
    (submission / "server.py").write_text(FLOODING_UDP_SERVER)
    out = tmp_path / "out"
    done = socketlab("grade", "03-udp-ping", str(submission), "--out", str(out))
    assert done.returncode == 0, done.stderr
    kept = sorted((out / "flood" / "captures").glob("*.pcap"))
    assert kept, "the packet checks' captures are kept"
    assert all(p.stat().st_size <= CAPTURE_LIMIT_BYTES + PCAP_HEADER_BYTES for p in kept)
    assert directory_bytes(out) < 8 << 20
