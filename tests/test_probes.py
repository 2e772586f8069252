"""The scripts that run inside containers, exercised here as plain programs (no Docker)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from grader.probes import listen_watch, run_bounded
from grader.sandbox.containers import PROBES_DIR, RUN_BOUNDED
from grader.sandbox.local import reserved_uid
from grader.sandbox.waiting import Poll


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
    return wrapper_record({"argv": [sys.executable, "-c", program], "keep_bytes": keep_bytes})


def wrapper_record(options: dict[str, Any]) -> dict[str, Any]:
    """The record of run_bounded.py run with `options`, as a plain program."""
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


@pytest.mark.skipif(os.geteuid() != 0, reason="changing the program's user needs root")
def test_a_program_run_as_another_user_can_gain_no_privileges() -> None:
    # A set-user-ID program (su, mount) must not hand back what the uid change took: the
    # local backend's programs, as root in an autograder's container, have only this.
    with reserved_uid() as uid:  # held as a grading holds its own: no other run's
        options = {
            "argv": ["/bin/sh", "-c", "id -u; grep NoNewPrivs /proc/self/status"],
            "keep_bytes": 1024,
            "user": [uid, uid],
            "cwd": "/",
            "sweep": False,
            "cgroup": False,
        }
        record = wrapper_record(options)
    output = base64.b64decode(record["stdout"]["head"]).decode()
    assert output.split() == [str(uid), "NoNewPrivs:", "1"]


def test_a_host_mode_run_that_could_not_be_swept_gives_up_its_host() -> None:
    """Host mode sweeps only as `docker exec`'s child in the container (sweep_allowed); run
    anywhere else, nothing was swept or cleared, so the run reports it as left over."""
    options = {"argv": [sys.executable, "-c", "print('ran')"], "keep_bytes": 1024}
    with subprocess.Popen(
        [sys.executable, str(RUN_BOUNDED), json.dumps({**options, "host": True, "sweep": True})],
        stdin=subprocess.PIPE,  # kept open: its end would be the grader's "time is up"
        stdout=subprocess.PIPE,
    ) as wrapper:
        assert wrapper.stdout is not None
        line = wrapper.stdout.read().decode().strip().splitlines()[-1]
    record = json.loads(line.removeprefix("RUN "))
    assert record["status"] == 0
    assert record["leftovers"] == [
        "not swept: the wrapper cannot reach every process of its container"
    ]


def test_clearing_that_outlasts_its_deadline_is_stopped(tmp_path: Path) -> None:
    """A program that leaves files by the hundred thousand must not delay its record: the
    clearing stops at its deadline, and what it did not remove stays (a leftover)."""
    for number in range(3000):
        (tmp_path / str(number)).mkdir()
    run_bounded.clear_scratch(os.getuid(), os.getgid(), (str(tmp_path),), timeout_s=0.0)
    assert any(tmp_path.iterdir())
    run_bounded.clear_scratch(os.getuid(), os.getgid(), (str(tmp_path),))
    assert not any(tmp_path.iterdir())


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


# --- the grader's peer, as a real process on loopback, against misbehaving programs ---------

REPORT_BOUND_BYTES = 256 * 1024


@dataclass(frozen=True)
class PeerRun:
    report: dict[str, Any]
    line_bytes: int
    took_s: float


def run_peer(options: dict[str, Any], *, terminate_after_s: float | None = None) -> PeerRun:
    """Runs peer.py with `options` and returns its report, the report's size and the run time.

    With `terminate_after_s` the peer gets SIGTERM once it has run that long (it must still
    report); otherwise it must stop by itself within its deadline and a few seconds more.
    """
    started = time.monotonic()
    peer = subprocess.Popen(
        [sys.executable, str(PROBES_DIR / "peer.py"), json.dumps(options)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if terminate_after_s is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                peer.wait(terminate_after_s)
            peer.send_signal(signal.SIGTERM)
        out, _ = peer.communicate(timeout=float(options.get("deadline_s", 30)) + 5)
    finally:
        peer.kill()
    line = next(line for line in out.splitlines() if line.startswith("REPORT "))
    return PeerRun(json.loads(line[7:]), len(line), time.monotonic() - started)


@contextlib.contextmanager
def tcp_server(serve: Callable[[socket.socket], None], *, accept: bool = True) -> Iterator[int]:
    """A misbehaving TCP server on loopback: `serve` gets each accepted connection."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def loop() -> None:
        listener.settimeout(0.2)
        while accept and not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn, contextlib.suppress(OSError):
                serve(conn)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        listener.close()


def client_options(port: int, payload_file: Path, **overrides: Any) -> dict[str, Any]:
    options = {
        "mode": "client",
        "host": "127.0.0.1",
        "port": port,
        "send_file": str(payload_file),
        "chunk_bytes": 0,
        "pause_ms": 0,
        "half_close": True,
        "connect_timeout_s": 2.0,
        "read_timeout_s": 2.0,
        "connections": 1,
        "reset_first": False,
        "deadline_s": 4.0,
    }
    return options | overrides


def payload(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "payload"
    path.write_bytes(random.Random(1).randbytes(size))
    return path


def echo_first_piece_forever(conn: socket.socket) -> None:
    data = conn.recv(65536)
    while data:
        conn.sendall(data)


def test_peer_client_stops_reading_a_flooding_server_and_says_so(tmp_path: Path) -> None:
    with tcp_server(echo_first_piece_forever) as port:
        run = run_peer(client_options(port, payload(tmp_path, 100), connections=3))
    connection = run.report["connections"][0]
    assert connection["end"] == "flood"
    assert connection["received_bytes"] > 100 + (1 << 20)
    assert connection["first_difference"] == 100
    assert run.report["stopped"] == "flood"
    assert run.report["skipped"] == 2
    assert run.line_bytes < REPORT_BOUND_BYTES


def test_peer_client_reports_a_slow_echo_at_its_deadline(tmp_path: Path) -> None:
    def slow_echo(conn: socket.socket) -> None:
        while True:
            time.sleep(0.05)
            data = conn.recv(1024)
            if not data:
                return
            conn.sendall(data)

    with tcp_server(slow_echo) as port:
        run = run_peer(client_options(port, payload(tmp_path, 1 << 20)))
    connection = run.report["connections"][0]
    assert connection["end"] == "timeout"
    assert 0 < connection["received_bytes"] < 1 << 20
    assert connection["first_difference"] == connection["received_bytes"]
    assert connection["idle_s"] < 1.0
    assert run.report["stopped"] == "deadline"
    assert run.took_s < 4.0 + 3
    assert run.line_bytes < REPORT_BOUND_BYTES


def test_peer_client_reports_a_server_that_never_accepts(tmp_path: Path) -> None:
    with tcp_server(echo_first_piece_forever, accept=False) as port:
        run = run_peer(client_options(port, payload(tmp_path, 16 << 20)))
    connection = run.report["connections"][0]
    assert connection["connected"]
    assert connection["end"] == "timeout"
    assert connection["received_bytes"] == 0
    assert connection["delivered_bytes"] < 16 << 20
    assert run.took_s < 4.0 + 3


def test_peer_client_reports_what_it_saw_on_sigterm(tmp_path: Path) -> None:
    def silent(conn: socket.socket) -> None:
        conn.recv(1)
        time.sleep(5)

    with tcp_server(silent) as port:
        options = client_options(port, payload(tmp_path, 10), read_timeout_s=20, deadline_s=40)
        run = run_peer(options, terminate_after_s=1.0)
    assert run.report["stopped"] == "terminated"
    assert run.report["connections"][0]["connected"]


def test_peer_udp_client_stops_counting_a_flood_of_replies() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    stop = threading.Event()

    def answer_with_endless_copies() -> None:
        data, source = server.recvfrom(65535)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                server.sendto(data * 100, source)

    thread = threading.Thread(target=answer_with_endless_copies, daemon=True)
    thread.start()
    options = {
        "mode": "udp-client",
        "host": "127.0.0.1",
        "port": server.getsockname()[1],
        "send": [base64.b64encode(b"PING 1 1764300000.25").decode()],
        "clients": 1,
        "pause_ms": 0,
        "reply_timeout_s": 3.0,
        "extra_wait_s": 0.5,
        "deadline_s": 4.0,
    }
    try:
        run = run_peer(options)
    finally:
        stop.set()
        thread.join()
        server.close()
    assert run.report["stopped"] == "flood"
    assert run.report["replies_total"] >= 1000
    assert len(run.report["replies"]) < run.report["replies_total"]
    assert run.line_bytes < REPORT_BOUND_BYTES
    assert run.took_s < 4.0 + 3


def test_peer_echo_server_stops_at_its_deadline_and_reports() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    options = {
        "mode": "server",
        "port": port,
        "send": [],
        "pause_ms": 0,
        "read_timeout_s": 1.0,
        "echo": True,
        "deadline_s": 2.0,
    }
    peer = subprocess.Popen(
        [sys.executable, str(PROBES_DIR / "peer.py"), json.dumps(options)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert peer.stdout is not None
        assert peer.stdout.readline().strip() == "READY"
        # The client sends and never half-closes, so the echo never starts.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(b"never finished")
            out, _ = peer.communicate(timeout=10)
    finally:
        peer.kill()
    line = next(line for line in out.splitlines() if line.startswith("REPORT "))
    report = json.loads(line[7:])
    assert report["accepted"]
    assert report["stopped"] == "deadline"
    assert report["received_bytes"] == len(b"never finished")


def test_peer_without_a_listener_reports_on_sigterm_even_when_it_comes_twice() -> None:
    options = {"mode": "closed", "port": 0, "deadline_s": 30.0}
    peer = subprocess.Popen(
        [sys.executable, str(PROBES_DIR / "peer.py"), json.dumps(options)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert peer.stdout is not None
        assert peer.stdout.readline().strip() == "READY"
        peer.send_signal(signal.SIGTERM)
        peer.send_signal(signal.SIGTERM)
        out, _ = peer.communicate(timeout=10)
    finally:
        peer.kill()
    report = json.loads(next(line for line in out.splitlines() if line.startswith("REPORT "))[7:])
    assert report["stopped"] == "terminated"
    assert report["accepted"] is False


def run_watching(program: str, timeout_s: float) -> list[str]:
    """run_bounded.py's lines for `program` with the `listen` option, in a network namespace
    of their own (`unshare -rn`: no other socket of the machine is seen)."""
    options = {
        "argv": [sys.executable, "-c", program],
        "keep_bytes": 1024,
        "listen": {"protocol": "tcp", "timeout_s": timeout_s},
    }
    stdout = in_own_network_namespace([sys.executable, str(RUN_BOUNDED), json.dumps(options)], 60)
    return stdout.decode().strip().splitlines()


def in_own_network_namespace(argv: list[str], timeout_s: float) -> bytes:
    """The stdout of `argv` run in a user and network namespace of its own (`unshare -rn`).

    Skips the test where this machine gives none; raises CalledProcessError if `argv` fails.
    """
    try:
        done = subprocess.run(
            ["unshare", "-rn", *argv], capture_output=True, timeout=timeout_s, check=True
        )
    except (OSError, subprocess.CalledProcessError) as e:
        if b"unshare" in getattr(e, "stderr", b"") or isinstance(e, OSError):
            pytest.skip(f"no network namespace of our own here: {e}")
        raise
    return done.stdout


LISTENS_LATE = (
    "import socket, time\n"
    "time.sleep(0.3)\n"
    "s = socket.socket(); s.bind(('0.0.0.0', 5555)); s.listen()\n"
    "time.sleep(3)\n"
)


def test_wrapper_says_when_the_program_listens_before_its_record() -> None:
    lines = run_watching(LISTENS_LATE, timeout_s=10)
    assert [line.split(" ", 1)[0] for line in lines] == ["LISTEN", "RUN"]
    report = json.loads(lines[0].removeprefix("LISTEN "))
    assert report["listeners"] == [["0.0.0.0", 5555, False]]
    assert 0.3 <= report["waited_s"] < 3.3  # found while it ran, not at its exit
    assert report["program_exited"] is False


def test_wrapper_says_no_listener_when_the_program_exits_or_the_time_is_up() -> None:
    exits = run_watching("print('bye')", timeout_s=10)
    assert [line.split(" ", 1)[0] for line in exits] == ["LISTEN", "RUN"]
    exited = json.loads(exits[0].removeprefix("LISTEN "))
    assert exited["listeners"] == [] and exited["program_exited"] is True
    slow = run_watching("import time; time.sleep(1.5)", timeout_s=0.3)
    report = json.loads(slow[0].removeprefix("LISTEN "))
    assert report["listeners"] == [] and 0.3 <= report["waited_s"] < 1.5
    assert report["program_exited"] is False


def stopped_while(program: str, ready: Path, **more: object) -> dict[str, object]:
    """run_bounded.py's record for `program`, sent SIGTERM once the program has made `ready`."""
    options = {"argv": [sys.executable, "-c", program], "keep_bytes": 1024, **more}
    wrapper = subprocess.Popen(
        [sys.executable, str(RUN_BOUNDED), json.dumps(options)], stdout=subprocess.PIPE
    )
    try:
        Poll(30, interval_s=0.005).until(
            lambda: True if ready.exists() or wrapper.poll() is not None else None
        )
        wrapper.send_signal(signal.SIGTERM)
        out, _ = wrapper.communicate(timeout=30)
    finally:
        wrapper.kill()
    line = out.decode().strip().splitlines()[-1]
    return dict(json.loads(line.removeprefix("RUN ")))


def test_a_stop_signal_waits_until_the_program_has_finished_what_it_was_doing(
    tmp_path: Path,
) -> None:
    """A server still busy with the grader's client (here: 0.3 s of CPU work, then a crash)
    is not cut short by the grader's SIGTERM: its own ending is what gets recorded. The
    signal may be held 60 s here, so no load on the test machine lets it through early."""
    ready = tmp_path / "ready"
    record = stopped_while(
        f"import time\nopen({str(ready)!r}, 'w').close()\n"
        "end = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
        # More than a pipe holds: the wrapper keeps reading while it holds the signal.
        "print('finished', flush=True)\nprint('x' * 300_000, flush=True)\n"
        "raise SystemExit(3)\n",
        ready,
        stop_quiet_max_s=60,
    )
    assert record["status"] == 3
    stdout = record["stdout"]
    assert isinstance(stdout, dict) and base64.b64decode(stdout["head"]).startswith(b"finished\n")
    assert stdout["total"] == len("finished\n") + 300_001
    assert record["stop_signal_after_exit"] is True
    assert record["stop_signal_while_running"] is False
    assert record["stop_signal_s"] is None


def test_a_stop_signal_reaches_a_waiting_program_and_one_that_never_rests(tmp_path: Path) -> None:
    for name, rest in (("waits", "time.sleep(60)"), ("spins", "while True: pass")):
        ready = tmp_path / name
        program = f"import time\nopen({str(ready)!r}, 'w').close()\n{rest}\n"
        record = stopped_while(program, ready, stop_quiet_max_s=0.5)
        assert record["signal"] == signal.SIGTERM, name
        assert record["stop_signal_while_running"] is True, name


def test_a_program_that_closed_its_output_still_gets_the_stop_signal(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    record = stopped_while(
        f"import os, time\nos.close(1)\nos.close(2)\nopen({str(ready)!r}, 'w').close()\n"
        "time.sleep(60)\n",
        ready,
    )
    assert record["signal"] == signal.SIGTERM
    assert record["stop_signal_while_running"] is True


def test_a_program_still_running_its_grace_after_the_stop_signal_is_killed(
    tmp_path: Path,
) -> None:
    ready = tmp_path / "ready"
    record = stopped_while(
        f"import signal, time\nsignal.signal(signal.SIGTERM, lambda *_: None)\n"
        f"open({str(ready)!r}, 'w').close()\ntime.sleep(60)\n",
        ready,
        stop_grace_s=0.5,
    )
    assert record["killed_by_grader"] is True
    assert record["stop_signal_while_running"] is True
    assert isinstance(record["stop_signal_s"], float)


def started_one(pid: int) -> bool | None:
    """True once process `pid` has forked a child (/proc/PID/task/PID/children), else None."""
    return True if Path(f"/proc/{pid}/task/{pid}/children").read_text().split() else None


def test_a_stop_signal_as_soon_as_the_program_exists_is_passed_on() -> None:
    """The grader may signal as soon as the program exists, before the wrapper has gone on
    from starting it (a peer that was done at once, a loaded machine): the signal is kept,
    passed on, and the record written."""
    for _ in range(5):
        options = {"argv": [sys.executable, "-c", "import time; time.sleep(60)"]}
        wrapper = subprocess.Popen(
            [sys.executable, str(RUN_BOUNDED), json.dumps({"keep_bytes": 1024, **options})],
            stdout=subprocess.PIPE,
        )
        try:
            Poll(30, interval_s=0.0002).until(partial(started_one, wrapper.pid))
            wrapper.send_signal(signal.SIGTERM)
            out, _ = wrapper.communicate(timeout=30)
        finally:
            wrapper.kill()
        lines = out.decode().strip().splitlines()
        assert lines, f"the wrapper ended by the signal ({wrapper.returncode}), no record"
        record = json.loads(lines[-1].removeprefix("RUN "))
        assert record["signal"] == signal.SIGTERM
        assert record["stop_signal_while_running"] is True


SNIFF_ON_LOOPBACK = """
import json, socket, sys, threading, time
sys.path.insert(0, sys.argv[1])
from grader.probes.peer import SynSniffer

sniffer = SynSniffer("lo")
sniffer.start()
closed = socket.socket()
closed.bind(("127.0.0.1", 0))
closed_port = closed.getsockname()[1]
closed.close()
try:
    socket.create_connection(("127.0.0.1", closed_port), timeout=5)  # SYN, then RST
except OSError:
    pass
listener = socket.create_server(("127.0.0.1", 0))
port = listener.getsockname()[1]
client = socket.create_connection(("127.0.0.1", port), timeout=5)
conn, _ = listener.accept()
sender = threading.Thread(target=client.sendall, args=(b"x" * (1 << 20),))
sender.start()
got = 0
while got < 1 << 20:
    got += len(conn.recv(65536))
sender.join()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(50):
    udp.sendto(b"ping", ("127.0.0.1", port))
deadline = time.monotonic() + 30
while len(sniffer.ports) < 2 and time.monotonic() < deadline:
    time.sleep(0.01)
print(json.dumps({"ports": sniffer.ports, "expected": [closed_port, port],
                  "filtered": sniffer.filtered, "frames": sniffer.frames}))
"""


def test_the_syn_sniffer_is_handed_only_the_syns_by_its_socket_filter() -> None:
    """1 MiB of TCP data and 50 datagrams on the interface; two SYNs reach Python, no more.

    In a network namespace of its own (`unshare -rn`), on its loopback interface.
    """
    repository = str(Path(__file__).resolve().parents[1])
    command = ["sh", "-c", 'ip link set lo up && exec "$0" "$@"',
               sys.executable, "-c", SNIFF_ON_LOOPBACK, repository]  # fmt: skip
    seen = json.loads(in_own_network_namespace(command, 120))
    assert seen["filtered"], "the kernel refused the socket filter"
    assert seen["ports"] == seen["expected"]
    assert seen["frames"] == 2, seen


@pytest.mark.parametrize("mode", ["closed", "server"])
@pytest.mark.parametrize("stop", [b"SIGTERM\n", b""], ids=["command", "end-of-stdin"])
def test_a_peer_told_to_stop_on_stdin_reports_as_on_sigterm(mode: str, stop: bytes) -> None:
    """An exec'd peer (grader.sandbox.peer_host.ServerPeerHost) is stopped through stdin."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    options = {
        "mode": mode,
        "port": port,
        "send": [],
        "pause_ms": 0,
        "read_timeout_s": 1.0,
        "deadline_s": 60.0,
        "stop_on_stdin": True,
    }
    peer = subprocess.Popen(
        [sys.executable, str(PROBES_DIR / "peer.py"), json.dumps(options)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert peer.stdout is not None and peer.stdin is not None
        assert peer.stdout.readline().strip() == b"READY"
        started = time.monotonic()
        if stop:
            peer.stdin.write(stop)
            peer.stdin.flush()  # stdin stays open: the command alone stops it
        else:
            peer.stdin.close()  # how the grader's going away looks
        # If the stop is not taken, the peer reports at its deadline (60 s), failing below.
        lines = iter(peer.stdout.readline, b"")
        line = next(line for line in lines if line.startswith(b"REPORT "))
    finally:
        peer.kill()
        peer.wait()
        for pipe in (peer.stdin, peer.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()
    report = json.loads(line[7:])
    assert report["stopped"] == "terminated"
    assert time.monotonic() - started < 30  # long before its 60 s deadline


def test_a_peer_listening_for_a_stop_on_stdin_still_ends_cleanly_on_its_own() -> None:
    """Its stdin thread must not keep the interpreter from exiting (no abort, no delay)."""
    options = {"mode": "closed", "port": 0, "deadline_s": 1.0, "stop_on_stdin": True}
    peer = subprocess.Popen(
        [sys.executable, str(PROBES_DIR / "peer.py"), json.dumps(options)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        peer.wait(timeout=30)  # stdin stays open all along
        assert peer.stdout is not None and peer.stderr is not None
        out, err = peer.stdout.read(), peer.stderr.read()
    finally:
        peer.kill()
        peer.communicate()
    assert peer.returncode == 0, err
    assert err == b""
    report = json.loads(next(line for line in out.splitlines() if line.startswith(b"REPORT "))[7:])
    assert report["stopped"] == "deadline"
