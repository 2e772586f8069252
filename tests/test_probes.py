"""The scripts that run inside containers, exercised here as plain programs (no Docker)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

from grader.probes import listen_watch, run_bounded
from grader.sandbox.containers import RUN_BOUNDED


def test_proc_net_addresses_decode_to_dotted_quads() -> None:
    assert listen_watch.decode_address("0100007F") == "127.0.0.1"
    assert listen_watch.decode_address("00000000") == "0.0.0.0"
    assert listen_watch.decode_address("00000000000000000000000000000000") == "::"
    assert listen_watch.decode_address("0000000000000000FFFF00000100007F") == "127.0.0.1"


def test_stream_keeps_the_first_and_last_part_only() -> None:
    stream = run_bounded.Stream(keep_bytes=8)
    for chunk in (b"abc", b"defgh", b"ijklmnop"):
        stream.add(chunk)
    assert bytes(stream.head) == b"abcd"
    assert bytes(stream.tail) == b"mnop"
    assert stream.total == 16


def run_wrapped(program: str, keep_bytes: int = 1024) -> dict[str, object]:
    options = {"argv": [sys.executable, "-c", program], "keep_bytes": keep_bytes}
    done = subprocess.run(
        [sys.executable, str(RUN_BOUNDED), json.dumps(options)],
        capture_output=True,
        timeout=60,
        check=True,
    )
    line = done.stdout.decode().strip().splitlines()[-1]
    assert line.startswith("RUN ")
    return dict(json.loads(line.removeprefix("RUN ")))


def test_wrapper_reports_status_and_both_streams() -> None:
    record = run_wrapped("import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)")
    assert record["status"] == 3
    stdout = record["stdout"]
    assert isinstance(stdout, dict)
    assert base64.b64decode(stdout["head"]) == b"out\n"


def test_wrapper_survives_a_flood_and_keeps_the_first_line() -> None:
    record = run_wrapped(
        "import sys\nprint('first', flush=True)\nfor _ in range(200):"
        " sys.stdout.write('x' * 100_000)"
    )
    stdout = record["stdout"]
    assert isinstance(stdout, dict)
    assert stdout["total"] == 6 + 20_000_000
    assert base64.b64decode(stdout["head"]).startswith(b"first\n")
    assert len(base64.b64decode(stdout["tail"])) == 512
