"""The UDP packet checks end to end on Docker, with a small UDP echo lab made by the test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import socketlab

pytestmark = pytest.mark.docker

SPEC = """\
id: 90-udp-echo
title: UDP echo (test lab)
services:
  server: {file: server.py, port: 60000, grading_port: 20990, protocol: udp}
checks:
  - {id: udp-only, title: UDP only, kind: udp_only, points: 1}
  - {id: boundaries, title: Boundaries kept, kind: udp_boundaries, points: 1}
  - {id: no-repeats, title: No retransmissions, kind: retransmissions, at_most: 0, points: 1}
"""

ECHO_SERVER = """\
import os, signal, socket, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("0.0.0.0", int(os.environ["SERVER_PORT"])))
while True:
    data, address = sock.recvfrom(65535)
    for _ in range(REPEAT):
        sock.sendto(data, address)
"""


def test_udp_checks_pass_an_echo_server_and_fail_a_double_echo(tmp_path: Path) -> None:
    lab = tmp_path / "90-udp-echo"
    lab.mkdir()
    (lab / "spec.yaml").write_text(SPEC)
    submissions = {}
    for name, repeat in (("echo", 1), ("double-echo", 2)):
        submission = tmp_path / "submissions" / name
        submission.mkdir(parents=True)
        (submission / "server.py").write_text(ECHO_SERVER.replace("REPEAT", str(repeat)))
        submissions[name] = submission
    out = tmp_path / "out"
    done = socketlab("grade", str(lab), *map(str, submissions.values()), "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr

    def failed(name: str) -> set[str]:
        results = json.loads((out / name / "results.json").read_text())
        return {t["name"].split(":")[0] for t in results["tests"] if t["status"] != "passed"}

    assert failed("echo") == set()
    assert failed("double-echo") == {"boundaries", "no-repeats"}
    assert (out / "double-echo" / "captures" / "boundaries.pcap").stat().st_size > 24
