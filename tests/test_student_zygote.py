"""The student zygote starts a program as `python3 -s FILE` would: same output, same end.

Each program here runs twice, forked by grader/probes/student_zygote.py and exec'd as the
recorder would exec it, and the two runs must print the same bytes and end the same way. No
Docker: the local backend's own machinery, on this machine's processes.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grader.sandbox.local import (
    clear_uid_files,
    is_root,
    kill_uid,
    minimal_env,
    python3,
    reserved_uid,
)
from grader.sandbox.waiting import Poll

PROBES = Path(__file__).resolve().parent.parent / "grader" / "probes"
sys.path.insert(0, str(PROBES))

import launcher as probe_launcher  # type: ignore[import-not-found]  # noqa: E402
import student_zygote  # type: ignore[import-not-found]  # noqa: E402

_uid: int | None = None
"""The programs' uid when the tests run as root (as in an autograder's container)."""


@pytest.fixture(scope="module", autouse=True)
def programs_uid() -> Iterator[int | None]:
    """A uid of these tests' own, held as a grading run holds its own (reserved_uid): a
    program here that signals every process of its user (kill(-1)) reaches none of a
    grading that runs beside these tests, and none of its programs reaches these."""
    global _uid
    if not is_root():
        yield None
        return
    with reserved_uid() as uid:
        _uid = uid
        try:
            yield uid
        finally:
            kill_uid(uid)
            clear_uid_files(uid)
            _uid = None


@pytest.fixture(scope="module")
def started() -> Iterator[Any]:
    """A zygote started as a probe launcher starts it (launcher.StudentZygote)."""
    environment = minimal_env()
    holder = probe_launcher.StudentZygote()
    # The launcher's interpreter is the programs' (python3()); here the test's may differ.
    saved, sys.executable = sys.executable, python3()
    try:
        fd = holder.for_recorder(environment)
    finally:
        sys.executable = saved
    assert fd is not None
    yield holder
    holder.end()


@pytest.fixture
def zygote(started: Any) -> int:
    """The socket descriptor a recorder asks the zygote with."""
    return int(started.fd)


@pytest.fixture
def folder() -> Iterator[Path]:
    """The program's folder, which the programs' uid may enter (pytest's are root's only)."""
    path = Path(tempfile.mkdtemp(prefix="socketlab-zygote-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _drain(process: object) -> tuple[bytes, bytes, int]:
    streams = {"out": b"", "err": b""}
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ, "out")  # type: ignore[attr-defined]
    selector.register(process.stderr, selectors.EVENT_READ, "err")  # type: ignore[attr-defined]
    while selector.get_map():
        ready = selector.select(timeout=30)
        assert ready, f"the program printed nothing for 30 s: {streams!r}"
        for key, _ in ready:
            data = os.read(key.fd, 1 << 16)
            if data:
                streams[key.data] += data
            else:
                selector.unregister(key.fileobj)
    return streams["out"], streams["err"], process.wait()  # type: ignore[attr-defined]


def _user() -> list[int] | None:
    return [_uid, _uid] if _uid is not None else None


def _prepare(folder: Path) -> None:
    if is_root():
        folder.chmod(0o755)
        for path in folder.iterdir():
            path.chmod(0o644)


def forked(zygote: int, folder: Path, file: str, env: dict[str, str] | None = None) -> object:
    with open(os.devnull, "rb") as stdin:
        return student_zygote.start(
            zygote,
            [python3(), "-s", file],
            env or minimal_env(),
            str(folder),
            _user(),
            {"RLIMIT_NOFILE": 256},
            stdin.fileno(),
        )


def run_both(zygote: int, folder: Path, file: str) -> tuple[tuple, tuple]:
    _prepare(folder)
    child = forked(zygote, folder, file)
    assert child is not None, "the zygote found the program unsuitable"
    by_zygote = _drain(child)
    user = _user()

    def become() -> None:
        if user:
            os.setgroups([])
            os.setgid(user[1])
            os.setuid(user[0])

    with open(os.devnull, "rb") as stdin:
        process = subprocess.Popen(
            [python3(), "-s", file],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=minimal_env(),
            cwd=folder,
            start_new_session=True,
            preexec_fn=become,
        )
    return by_zygote, _drain(process)


SIGNALS_ITSELF = "import os, signal, time\nos.kill(os.getpid(), signal.{})\ntime.sleep(5)\n"
PROGRAMS = {
    "what-it-sees": """
import os, signal, sys
print(sys.argv, sys.orig_argv, sys.path[0], __file__, __name__, __package__, __spec__)
print(type(__loader__).__name__, __cached__, __doc__, sorted(globals()))
print(sys.stdout.seekable(), sys.stdin.seekable(), sys.stdout.encoding, sys.flags.no_user_site)
print([signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE)])
print(os.getpgrp() == os.getpid(), os.getsid(0) == os.getpid(), sorted(os.listdir("/proc/self/fd")))
print(open("/proc/self/status").read().split("Uid:")[1].split()[:2], os.getcwd())
print(sorted(k for k in os.environ))
""",
    "crashes": """
def deeper():
    raise ValueError("boom")
deeper()
""",
    "syntax-error": "x = = 1\n",
    "exits-with-a-message": "import sys\nsys.exit('bye')\n",
    "exits-3": "import sys\nprint('out', flush=True)\nsys.exit(3)\n",
    "interrupted": SIGNALS_ITSELF.format("SIGINT"),
    "terminated": SIGNALS_ITSELF.format("SIGTERM"),
    "threads-and-atexit": """
import atexit, threading, time
atexit.register(lambda: print("atexit", flush=True))
threading.Thread(target=lambda: (time.sleep(0.2), print("thread", flush=True))).start()
print("main done")
""",
}


SOURCES = {
    "declares-an-unknown-coding": b"# -*- coding: ansi -*-\nprint(1)\n",
    "latin-1-in-a-comment": b"# caf\xe9\nprint(1)\n",
    "latin-1-in-a-string": b"print('caf\xe9')\n",
    "a-null-byte": b"print(1)\0\n",
    "utf-8-with-bom": b"\xef\xbb\xbfprint('caf\xc3\xa9')\n",
    "crlf": b"import sys\r\nprint(sys.argv)\r\n",
}
"""Source files that Python's own reading of a script judges (PyRun_SimpleFileExFlags), not
compile()'s: their messages differ."""


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_a_forked_program_is_read_as_python_reads_a_script(
    zygote: int, folder: Path, name: str
) -> None:
    (folder / "program.py").write_bytes(SOURCES[name])
    by_zygote, by_exec = run_both(zygote, folder, "program.py")
    assert by_zygote == by_exec


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_a_forked_program_prints_and_ends_as_an_execd_one(
    zygote: int, folder: Path, name: str
) -> None:
    (folder / "program.py").write_text(PROGRAMS[name])
    by_zygote, by_exec = run_both(zygote, folder, "program.py")
    assert by_zygote == by_exec


@pytest.mark.parametrize("module", ["socket", "selectors", "resource", "ctypes"])
def test_a_module_beside_the_program_is_the_one_it_imports(
    zygote: int, folder: Path, module: str
) -> None:
    """socket is kept imported in the zygote's children, resource and ctypes forgotten; a
    program beside a module of any of those names imports its own."""
    (folder / f"{module}.py").write_text("MINE = True\n")
    (folder / "program.py").write_text(
        f"import {module}\nprint({module}.MINE, {module}.__file__)\n"
    )
    by_zygote, by_exec = run_both(zygote, folder, "program.py")
    assert by_zygote == by_exec
    assert by_zygote[0].startswith(b"True ")


def test_a_program_whose_environment_changes_pythons_start_is_left_to_an_exec(
    zygote: int, folder: Path
) -> None:
    (folder / "program.py").write_text("pass\n")
    _prepare(folder)
    environment = {**minimal_env(), "PYTHONPATH": str(folder)}
    assert forked(zygote, folder, "program.py", environment) is None


def test_a_program_that_cannot_be_set_up_is_an_error_with_the_reason(
    zygote: int, folder: Path
) -> None:
    with pytest.raises(OSError, match="FileNotFoundError"):
        forked(zygote, folder / "missing", "program.py")


def test_a_program_file_that_cannot_be_read_ends_as_pythons_own_message(
    zygote: int, folder: Path
) -> None:
    by_zygote, by_exec = run_both(zygote, folder, "absent.py")
    assert by_zygote == by_exec
    assert b"can't open file" in by_zygote[1] and by_zygote[2] == 2


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if int((entry / "stat").read_text().rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def test_a_program_whose_recorder_is_gone_before_its_answer_is_killed(
    started: Any, folder: Path
) -> None:
    """A recorder killed while it waits (the grader stopping a scenario) cannot stop the
    program it asked for, and the grader's sweep of the user may already have come: the
    zygote kills a program whose pid it cannot tell."""
    (folder / "program.py").write_text("import time\ntime.sleep(60)\n")
    _prepare(folder)
    request = {
        "argv": [python3(), "-s", "program.py"],
        "env": minimal_env(),
        "cwd": str(folder),
        "user": _user(),
        "rlimits": {},
    }
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.close()  # the recorder is gone before the answer comes
    with open(os.devnull, "rb") as stdin, socket.socket(fileno=os.dup(started.fd)) as control:
        fds = [theirs.fileno(), stdin.fileno(), stdin.fileno(), stdin.fileno()]
        socket.send_fds(control, [marshal.dumps(request)], fds)
    theirs.close()
    # The zygote answers in order: once a later program has run, that one was handled.
    (folder / "later.py").write_text("pass\n")
    _prepare(folder)
    later = forked(started.fd, folder, "later.py")
    assert later is not None and _drain(later)[2] == 0
    assert Poll(10).until(lambda: True if not children_of(started.process.pid) else None)


STOPPER = """
import os, signal, threading, time
def stop_everything():
    end = time.monotonic() + 8
    while time.monotonic() < end:
        try:
            os.kill(-1, signal.SIGSTOP)
        except OSError:
            pass
for _ in range(2):
    threading.Thread(target=stop_everything).start()
print("stopping", flush=True)
"""


@pytest.mark.skipif(not is_root(), reason="the programs get a user of their own only under root")
def test_a_program_cannot_stop_the_zygote_by_stopping_the_next_program_as_it_starts(
    zygote: int, folder: Path
) -> None:
    """While the zygote waits for a child to be set up, the child's real and saved uids are
    still root's: the programs' user cannot signal it, so a program that stops every process
    of its user stops its own programs, never the zygote's answers (which a recorder would
    otherwise wait for, and report as the grader's failure)."""
    (folder / "stopper.py").write_text(STOPPER)
    (folder / "later.py").write_text("pass\n")
    _prepare(folder)
    stopper = forked(zygote, folder, "stopper.py")
    assert stopper is not None
    with selectors.DefaultSelector() as selector:
        selector.register(stopper.stdout, selectors.EVENT_READ)  # type: ignore[attr-defined]
        assert selector.select(timeout=30), "the stopper did not start within 30 s"
    assert os.read(stopper.stdout.fileno(), 100).startswith(b"stopping")  # type: ignore[attr-defined]
    started = []
    try:
        for _ in range(40):
            later = forked(zygote, folder, "later.py")  # raises ZygoteGone if not answered
            assert later is not None
            started.append(later)
    finally:
        for program in [stopper, *started]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(program.pid, signal.SIGKILL)  # type: ignore[attr-defined]
            program.wait()  # type: ignore[attr-defined]
