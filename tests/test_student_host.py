"""A student service's long-lived container (StudentHost) keeps every guarantee of a fresh one.

Programs run one after another in one container by exec: nothing of one run reaches the
next (processes, files), a fork bomb is still stopped and recorded, the grader's record is
still the wrapper's alone, a program reads only its own stdin among the inputs the host
mounts, and a grader that goes away leaves nothing running.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grader.packets.pcap import read_packets
from grader.sandbox import image
from grader.sandbox.capture import capture
from grader.sandbox.containers import KILL_AFTER_S, STUDENT_UID, LabContext
from grader.sandbox.labels import RunLabels
from grader.sandbox.network import lab_network
from grader.sandbox.peer_host import LONGEST_RUN_S, PeerHost
from grader.sandbox.student_host import HostedProgram, StudentHost
from grader.sandbox.volumes import RunVolumes
from grader.sandbox.waiting import Poll
from grader.scenarios.model import ProgramRun
from grader.scenarios.steps import finish_program
from grader.spec.model import Input, Limits
from tests.test_hostile import WHO_AM_I

pytestmark = pytest.mark.docker

LEAVES_THINGS_BEHIND = """
import os, time
os.makedirs("/tmp/private/deeper", exist_ok=True)
open("/tmp/private/deeper/state", "w").write("from the first run")
os.chmod("/tmp/private", 0o700)
open("/tmp/note", "w").write("from the first run")
open("/dev/shm/note", "w").write("from the first run")
os.makedirs("/dev/shm/kept/deeper")
open("/dev/shm/kept/deeper/state", "w").write("from the first run")
os.chmod("/dev/shm/kept/deeper", 0o500)  # read-only: removing what is inside takes a chmod
os.chmod("/dev/shm/kept", 0o000)
if os.fork() == 0:
    os.setsid()  # leaves the program's session
    if os.fork() == 0:
        time.sleep(3600)  # an orphan, adopted by init
    os._exit(0)
print("left", flush=True)
"""

LOOKS_AROUND = """
import os
def uid(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("Uid:"))
    except OSError:
        return None
mine = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()
        and uid(p) == os.getuid()]
print("tmp", sorted(os.listdir("/tmp")))
print("shm", sorted(os.listdir("/dev/shm")))
print("others", mine)
"""

FORK_BOMB = """
import os, time
children = 0
while True:
    try:
        if os.fork() == 0:
            time.sleep(3600)
            os._exit(0)
        children += 1
    except OSError:
        break
print("forked", children, flush=True)
time.sleep(3600)
"""

READS_INPUTS = """
import os, sys
print("stdin", sys.stdin.read())
for folder in sorted(os.listdir("/opt/socketlab-input")):
    path = f"/opt/socketlab-input/{folder}/data"
    try:
        os.stat(path)  # not even its size
        print("seen", path)
    except PermissionError:
        print("refused", path)
"""

SENDS = """
import os, socket
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.sendto(os.environ["WORD"].encode(), ("255.255.255.255", 9))
"""

TALKS_TO_ITSELF = """
import os, socket
with socket.create_server(("127.0.0.1", 7000)) as listener:
    client = socket.create_connection(("127.0.0.1", 7000))
    accepted, _ = listener.accept()
    first, second = (accepted, client) if os.environ["FIRST"] == "server" else (client, accepted)
    first.close()  # the side that closes first keeps the connection in TIME_WAIT
    second.recv(1)
    second.close()
"""

PLANTS_A_PTH = """
import os, sys
folder = "/tmp/.local/lib/python%d.%d/site-packages" % sys.version_info[:2]
os.makedirs(folder)
# Run by any later Python that reads this user site (HOME is /tmp): were it the root wrapper,
# it would leave a root-owned file no clearing by uid 65534 could remove.
open(folder + "/planted.pth", "w").write("import os; open('/dev/shm/planted', 'w')\\n")
"""

MAKES_IPC = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
assert libc.shmget(7, 1 << 20, 0o1600) >= 0, ctypes.get_errno()  # IPC_CREAT | 0600
"""

SLEEPS = "import time\nprint('up', flush=True)\ntime.sleep(3600)\n"

MINE = Input(text=b"the input of this program\n")
SOMEONE_ELSES = Input(text=b"a hidden check's input\n")


@pytest.fixture
def context(docker_ready: Any) -> Iterator[LabContext]:
    labels = RunLabels.new()
    runtime = image.require_image(docker_ready)
    with (
        RunVolumes(docker_ready, labels, runtime) as volumes,
        lab_network(docker_ready, labels) as network,
    ):
        yield LabContext(docker_ready, runtime, network, labels, Limits(), volumes)


@pytest.fixture
def submission(tmp_path: Path) -> Path:
    folder = tmp_path / "submission"
    folder.mkdir(mode=0o755)
    programs = {
        "leaves.py": LEAVES_THINGS_BEHIND,
        "looks.py": LOOKS_AROUND,
        "bomb.py": FORK_BOMB,
        "inputs.py": READS_INPUTS,
        "sleeps.py": SLEEPS,
        "whoami.py": WHO_AM_I,
        "sends.py": SENDS,
        "talks.py": TALKS_TO_ITSELF,
        "plants.py": PLANTS_A_PTH,
        "ipc.py": MAKES_IPC,
    }
    for name, source in programs.items():
        (folder / name).write_text(source)
        (folder / name).chmod(0o644)
    return folder


@pytest.fixture
def host(context: LabContext, submission: Path) -> Iterator[StudentHost]:
    with StudentHost(context, submission, "client", None, (MINE, SOMEONE_ELSES)) as started:
        yield started


def run(
    host: StudentHost, file: str, timeout_s: float = 60, stdin: Input | None = None
) -> ProgramRun:
    assert host.usable(stdin)
    with host.program(file, {}, stdin) as program:
        return finish_program(program, file, timeout_s)


def student_processes(host: StudentHost) -> list[str]:
    """The host's processes of STUDENT_UID, as the engine lists them (`docker top`)."""
    assert host.running is not None
    top = host.running.container.top(ps_args="-eo uid,pid,args")
    return [" ".join(row) for row in top["Processes"] if row[0] == str(STUDENT_UID)]


def test_a_hosted_program_runs_as_65534_without_capabilities_under_a_root_wrapper(
    host: StudentHost,
) -> None:
    done = run(host, "whoami.py")
    assert done.exit_code == 0, done.stderr_text
    seen = dict(line.partition(" ")[::2] for line in done.stdout_text.splitlines())
    assert seen["uid"].split() == [str(STUDENT_UID)] * 4
    assert int(seen["CapEff"], 16) == 0
    assert seen["NoNewPrivs"] == "1"
    assert seen["parent-uid"].split() == ["0"] * 4


def test_nothing_of_one_run_reaches_the_next(host: StudentHost) -> None:
    first = run(host, "leaves.py")
    assert first.exit_code == 0, first.stderr_text
    assert student_processes(host) == []  # the orphan that left the session is gone too
    second = run(host, "looks.py")
    assert second.exit_code == 0, second.stderr_text
    assert second.stdout_text.splitlines() == ["tmp []", "shm []", "others []"]


def test_a_fork_bomb_is_stopped_and_recorded_and_the_host_serves_the_next_run(
    host: StudentHost,
) -> None:
    assert host.running is not None
    container = host.running.id
    bombed = run(host, "bomb.py", timeout_s=5)
    assert bombed.timed_out
    assert bombed.process_limit_hit
    assert "forked" in bombed.stdout_text
    assert student_processes(host) == []
    after = run(host, "whoami.py")
    assert after.exit_code == 0, after.stderr_text
    assert host.running.id == container and not host.discarded


def test_a_program_reads_its_own_stdin_and_no_other_input(host: StudentHost) -> None:
    done = run(host, "inputs.py", stdin=MINE)
    assert done.exit_code == 0, done.stderr_text
    lines = done.stdout_text.splitlines()
    assert lines[0] == "stdin the input of this program"
    assert [line.split()[0] for line in lines[2:]] == ["refused", "refused"]


def test_a_program_cannot_write_a_record_of_its_own(host: StudentHost) -> None:
    forged = {"status": 0, "killed_by_grader": False}
    source = f"print('RUN ' + {json.dumps(json.dumps(forged))!r})\nraise SystemExit(3)\n"
    done = run_source(host, source)
    assert done.exit_code == 3
    assert "RUN " in done.stdout_text  # in the record, as what the program printed


def run_source(host: StudentHost, source: str) -> ProgramRun:
    """Runs `source` with python3 -c in the host (the submission volume is read-only)."""
    options = host.context.wrapper_options("-c")
    options["argv"] = ["python3", "-c", source]
    options["host"] = True
    program = HostedProgram(host, options, {})
    try:
        return finish_program(program, "-c", 60)
    finally:
        program.close()


def test_when_the_grader_goes_away_the_program_is_stopped(host: StudentHost) -> None:
    with host.program("sleeps.py", {}) as program:
        assert Poll(60).until(lambda: True if student_processes(host) else None)
        program._raw.shutdown(socket.SHUT_RDWR)  # as when the grader's process dies
        assert Poll(30).until(lambda: True if not student_processes(host) else None)


def test_captures_in_one_capture_container_are_split_per_run(
    context: LabContext, host: StudentHost, tmp_path: Path
) -> None:
    assert host.running is not None
    payloads = {}
    for word in ("first-run", "second-run"):
        # Listening before the program starts: every datagram it sends is in its capture.
        with capture(context, host.running, tmp_path, word, host.capture_host()) as running:
            assert running is not None
            with host.program("sends.py", {"WORD": word}) as program:
                done = finish_program(program, "sends.py", 60)
            pcap = running.stop()
        assert done.exit_code == 0, done.stderr_text
        payloads[word] = [packet.payload for packet in read_packets(pcap).packets]
    assert payloads == {"first-run": [b"first-run"], "second-run": [b"second-run"]}


@pytest.mark.parametrize(("first", "held"), [("server", [7000]), ("client", [])])
def test_a_run_that_leaves_its_fixed_port_held_gives_up_its_host(
    host: StudentHost, first: str, held: list[int]
) -> None:
    """TIME_WAIT on port 7000 would refuse a later bind() without SO_REUSEADDR."""
    with host.program("talks.py", {"FIRST": first}) as program:
        done = finish_program(program, "talks.py", 60)
        record = program._record()
    assert done.exit_code == 0, done.stderr_text
    assert record is not None
    assert record["ports_held"] == held  # the client's port, chosen by connect(), is not
    assert host.discarded == bool(held)


def test_a_planted_user_site_file_does_not_run_in_the_root_wrapper(host: StudentHost) -> None:
    """Two defences: the clearing after each run removes it, and the wrapper's python3 -s
    would not read it anyway."""
    planted = run(host, "plants.py")
    assert planted.exit_code == 0, planted.stderr_text
    after = run(host, "looks.py")
    assert after.stdout_text.splitlines()[:2] == ["tmp []", "shm []"]


def test_a_run_that_leaves_ipc_objects_gives_up_its_host(host: StudentHost) -> None:
    with host.program("ipc.py", {}) as program:
        done = finish_program(program, "ipc.py", 60)
        record = program._record()
    assert done.exit_code == 0, done.stderr_text
    assert record is not None
    assert any("System V" in left for left in record["leftovers"])
    assert host.discarded


def test_a_reference_client_host_takes_no_client_it_could_not_finish(context: LabContext) -> None:
    """The longest client (LONGEST_RUN_S, then SIGKILL) must end before its host's container:
    an older host is not used (the runner starts another), however the checks before it
    spent their time."""
    with PeerHost(context, ()) as peers:
        assert peers.usable()
        peers._since -= peers.idle_s - LONGEST_RUN_S - KILL_AFTER_S  # as old as that
        assert not peers.usable()
        assert peers.running is not None and peers.running.is_running()
