"""Grades many submissions at once: a pool of worker processes, one submission each at a time.

Each worker grades with the same grade_submission as `socketlab check`. The workers are
forked from one process, `grader.batch SPEC [--backend NAME] [--hidden-checks FILE]
--fork-server FD` run as `__main__` (LAUNCHER_BOOTSTRAP), which has imported the grader and
loaded the spec once: a worker of its own would spend most of a second of CPU on that, about
as much as it then spends grading a lab 01 submission (grader/probes/launcher.py's
protocol, grader.sandbox.launcher). A submission is graded in one worker from start to
end, on its own lab network, so workers never share a container; each worker has its own
Docker SDK client, made after the fork (whose connection pool, 10 connections, is far more
than one grading uses at a time).

Protocol, one JSON object per line: the pool writes `{"submission": DIR, "target": DIR}` to
a worker's stdin; the worker grades it, writes junit.xml, grade.json and the results.json to
be (PENDING_RESULTS) into `target`, each atomically, and answers on its own channel (the
stdout it was started with; everything else it prints goes to stderr) with `{"status":
"graded" | "not-graded" | "interrupted", "error": CLASS, "message": TEXT, "cleanup": TEXT}`.
The pool builds every gradebook row from grade.json on disk, as `--resume` does, and the
batch renames the pending results.json into place once the gradebook has its row (publish).

Workers carry the batch's pid as their resources' owner (labels.OWNER_PID_ENV), so
`socketlab clean` and other runs treat them as the batch's, and they end with it: the
launcher ends when the batch does, and its workers with it (Linux parent-death signal).
SIGINT or SIGTERM in a worker interrupts its grading, which removes its containers and
network and answers `interrupted`.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from grader import errors, interrupts
from grader.errors import GraderBugError, InfrastructureError
from grader.reporting.record import RECORD_NAME, read_record, write_record
from grader.results import SubmissionResult
from grader.sandbox.labels import OWNER_PID_ENV
from grader.sandbox.launcher import LaunchedProcess, Launcher
from grader.spec.model import LabSpec

MEMORY_PER_JOB_BYTES = 2 << 30
"""What one grading may take at most: two student containers at the limit plus helpers."""
MAX_DEFAULT_JOBS = 8
WORKER_STOP_TIMEOUT_S = 120.0
"""How long an interrupted worker may take to remove its containers and network."""
PENDING_RESULTS = ".results.json.pending"
"""A worker's results.json, complete, until the batch has written the gradebook row for it."""
WORKER_LOG_TAIL_BYTES = 4000
"""How much of a worker's stderr a failure shows when the worker ended while grading."""
REPORT_FILES = (
    "results.json",
    "feedback.md",
    PENDING_RESULTS,
    "junit.xml",
    ".junit.xml.partial",
    RECORD_NAME,
    "captures",
)


def default_jobs() -> int:
    """How many submissions to grade at once when --jobs is not given.

    Two per core (a grading mostly waits on its programs' timeouts and on Docker), at most
    one per MEMORY_PER_JOB_BYTES of available memory, at most MAX_DEFAULT_JOBS, at least 1.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    by_memory = _available_memory_bytes() // MEMORY_PER_JOB_BYTES
    return max(1, min(2 * (cores or 1), by_memory or 1, MAX_DEFAULT_JOBS))


def _available_memory_bytes() -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return MEMORY_PER_JOB_BYTES * MAX_DEFAULT_JOBS


@dataclass(frozen=True)
class Job:
    """One submission of a batch: its position in the batch, its printable name, where to write."""

    index: int
    name: str
    submission: Path
    target: Path


@dataclass(frozen=True)
class Finished:
    """A job's end: its result, or why it has none (`failure`), and how long it took (s)."""

    job: Job
    result: SubmissionResult | None
    seconds: float
    failure: InfrastructureError | None = None
    cleanup_problem: str | None = None
    interrupted: bool = False


def forget_reports(target: Path) -> None:
    """Removes an earlier run's report files for a submission before it is graded again.

    Otherwise a run killed before this submission would leave the old results looking current,
    and an old capture would sit beside new results. A folder in a report file's place goes
    too: these names are the batch's own.
    """
    for name in REPORT_FILES:
        path = target / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def completed(lab: LabSpec, job: Job) -> tuple[SubmissionResult, float] | None:
    """A job's recorded result and time when its results.json and record are complete.

    Complete also means: graded under the lab's spec as it is now, from this very directory
    (see read_record).
    """
    if not (job.target / "results.json").is_file():
        return None
    return read_record(lab, job.target / RECORD_NAME, job.submission)


class Worker:
    """A worker forked by the batch's worker launcher, and the batch's ends of its stdin and
    stdout. `returncode` (Popen's) is None while it runs, and also when its exit status was
    lost with the launcher (`lost`)."""

    def __init__(self, process: LaunchedProcess, stdin: IO[str], stdout: IO[str]) -> None:
        self.process = process
        self.stdin = stdin
        self.stdout = stdout
        self.lost = False

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def poll(self) -> int | None:
        """None while it runs; its exit code once ended (also None when lost)."""
        try:
            return self.process.poll()
        except InfrastructureError:
            self.lost = True
            return None

    def ended(self) -> bool:
        self.poll()
        return self.lost or self.returncode is not None

    def wait(self, timeout: float | None = None) -> int | None:
        """Its exit code, or None when lost. Raises subprocess.TimeoutExpired."""
        try:
            return self.process.wait(timeout)
        except InfrastructureError:
            self.lost = True
            return None

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signum)

    def close(self) -> None:
        for stream in (self.stdin, self.stdout):
            with contextlib.suppress(OSError):
                stream.close()


class WorkerPool:
    """Grades jobs in `size` worker processes; results arrive as each submission finishes.

    Use as a context manager: leaving it (also by KeyboardInterrupt) interrupts the workers
    still grading and waits until they have removed their resources.
    """

    def __init__(self, lab: LabSpec, size: int, backend: str = "docker") -> None:
        self.lab = lab
        self.size = size
        self.backend = backend
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._finished: queue.Queue[Finished | None] = queue.Queue()
        self._taking = threading.Event()
        self._taking.set()
        self._workers: list[Worker] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._launcher: Launcher | None = None

    def __enter__(self) -> WorkerPool:
        if self.backend == "local" and threading.active_count() == 1:
            # A fork of this process, which has the grader imported and the spec loaded: the
            # batch's first gradings start about 0.6 s sooner than with a new interpreter
            # that imports and loads them again. Only here, with one thread: the pool's own
            # start their workers later, and a launcher started again after one ended is a
            # new interpreter. The Docker backend's too: this process may hold an engine
            # client, whose connections a fork must not share.
            with self._lock:
                self._launcher = self._new_launcher(
                    lambda fd: serve_workers(self.lab, self.backend, fd)
                )
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None:
            self._close()
        else:
            self.stop()

    def _close(self) -> None:
        """Waits for the workers to end by themselves (no more input), then stops any left."""
        self._taking.clear()
        for thread in self._threads:
            thread.join()
        deadline = time.monotonic() + WORKER_STOP_TIMEOUT_S
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(timeout=max(0.1, deadline - time.monotonic()))
        self.stop()

    def run(self, jobs: Sequence[Job]) -> Iterator[Finished]:
        """Yields a Finished for each job that was graded or tried, in the order they finish.

        After stop_taking(), the jobs not started yet are left out (not yielded).
        """
        for job in jobs:
            self._jobs.put(job)
        for _ in range(min(self.size, len(jobs))):
            self._jobs.put(None)
            thread = threading.Thread(target=self._feed, daemon=True)
            thread.start()
            self._threads.append(thread)
        running = len(self._threads)
        while running:
            with interrupts.interruptible():
                finished = self._finished.get()
            if finished is None:
                running -= 1
                continue
            yield finished

    def stop_taking(self) -> None:
        """No job that has not started will start; the ones in progress finish."""
        self._taking.clear()

    def stop(self) -> None:
        """Interrupts every worker (SIGTERM) and waits for each to clean up and end.

        A worker still running after WORKER_STOP_TIMEOUT_S, or when another Ctrl-C or SIGTERM
        comes while waiting, is killed (the batch then removes its resources by label).
        """
        self._taking.clear()
        signals = interrupts.count()
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            if not worker.ended():
                worker.signal(signal.SIGTERM)
        deadline = time.monotonic() + WORKER_STOP_TIMEOUT_S
        for worker in workers:
            while not worker.ended():
                if time.monotonic() >= deadline or interrupts.count() > signals:
                    worker.signal(signal.SIGKILL)
                    worker.wait()
                    break
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.wait(timeout=0.1)
        with self._lock:
            launcher, self._launcher = self._launcher, None
        if launcher is not None:
            launcher.close()

    def _worker_launcher(self) -> Launcher:
        """The process the workers are forked from: started on first use, and again if it
        ended. Raises InfrastructureError when it cannot be started."""
        with self._lock:
            if self._launcher is None or not self._launcher.alive:
                hidden = self.lab.hidden_checks_path
                self._launcher = self._new_launcher(
                    [
                        sys.executable,
                        "-c",
                        LAUNCHER_BOOTSTRAP,
                        str(self.lab.path),
                        "--backend",
                        self.backend,
                        *(["--hidden-checks", str(hidden)] if hidden else []),
                        "--fork-server",
                    ]
                )
            return self._launcher

    def _new_launcher(self, command: list[str] | Callable[[int], object]) -> Launcher:
        """The worker launcher `command` starts (see Launcher). Raises InfrastructureError
        when it cannot be started."""
        return Launcher(
            command,
            self._worker_env(),
            name="worker launcher",
            # In the batch's process group: a Ctrl-C at the terminal, or a SIGTERM to the
            # group, reaches the workers as it does the batch; the launcher ignores both
            # (LAUNCHER_BOOTSTRAP, ForkedServer) and ends when the batch closes it.
            new_session=False,
        )

    def _worker_env(self) -> dict[str, str]:
        return {**os.environ, OWNER_PID_ENV: os.environ.get(OWNER_PID_ENV, str(os.getpid()))}

    def _start_worker(self, log: IO[bytes]) -> Worker:
        """A worker whose stderr goes to `log`: shown only if it ends while grading. Raises
        InfrastructureError when it cannot be started."""
        stdin_read, stdin_write = os.pipe()
        stdout_read, stdout_write = os.pipe()
        try:
            process = self._worker_launcher().launch(
                WORKER_ENTRY,
                [],
                None,  # the batch's folder, as the launcher has it (even if it was removed)
                self._worker_env(),
                (stdin_read, stdout_write, log.fileno()),
                new_session=False,
                # As a worker started as a program of its own would have them: a batch
                # started with SIGINT ignored (nohup, a script's background job) keeps
                # its workers out of a Ctrl-C too.
                ignore=tuple(
                    name
                    for name in ("SIGINT", "SIGTERM")
                    if signal.getsignal(getattr(signal, name)) is signal.SIG_IGN
                ),
            )
        except BaseException:
            os.close(stdin_write)
            os.close(stdout_read)
            raise
        finally:
            os.close(stdin_read)
            os.close(stdout_write)
        worker = Worker(
            process,
            open(stdin_write, "w", encoding="utf-8"),  # noqa: SIM115  # closed in _feed
            open(stdout_read, encoding="utf-8"),  # noqa: SIM115
        )
        with self._lock:
            self._workers.append(worker)
        return worker

    def _feed(self) -> None:
        worker: Worker | None = None
        try:
            with tempfile.TemporaryFile() as log:
                while self._taking.is_set():
                    job = self._jobs.get()
                    if job is None or not self._taking.is_set():
                        break
                    if worker is None or worker.ended():
                        if worker is not None:
                            worker.close()
                        log.seek(0)
                        log.truncate()
                        try:
                            worker = self._start_worker(log)
                        except Exception as e:  # this submission is not graded, and says why
                            worker = None
                            failure = (
                                e
                                if isinstance(e, InfrastructureError)
                                else GraderBugError(f"could not start a worker: {e!r}")
                            )
                            self._finished.put(Finished(job, None, 0.0, failure))
                            continue
                    self._finished.put(self._grade(worker, job, log))
        finally:
            if worker is not None:
                with contextlib.suppress(OSError):
                    worker.stdin.close()
            self._finished.put(None)

    def _grade(self, worker: Worker, job: Job, log: IO[bytes]) -> Finished:
        started = time.monotonic()
        request = {"submission": str(job.submission), "target": str(job.target)}
        try:
            worker.stdin.write(json.dumps(request) + "\n")
            worker.stdin.flush()
            line = worker.stdout.readline()
        except OSError:
            line = ""
        seconds = time.monotonic() - started
        if not line:
            code = worker.wait()
            if code in (-signal.SIGTERM, -signal.SIGINT, 130) or not self._taking.is_set():
                return Finished(job, None, seconds, interrupted=True)
            if code is None:
                failure = GraderBugError(
                    "the batch's worker launcher ended while a worker graded: the worker's"
                    " exit status is lost"
                )
                return Finished(job, None, seconds, failure)
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - WORKER_LOG_TAIL_BYTES))
            tail = log.read().decode("utf-8", "replace").strip()
            how = (
                f"was killed by {signal.Signals(-code).name}"
                if code < 0 and -code in signal.valid_signals()
                else f"ended with exit status {code}"
            )
            failure = GraderBugError(
                f"the grader's worker process {how} while grading"
                + (f"; its last output:\n{tail}" if tail else " (it printed nothing)")
            )
            return Finished(job, None, seconds, failure)
        answer = json.loads(line)
        if answer["status"] == "interrupted":
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(timeout=WORKER_STOP_TIMEOUT_S)  # its exit tells whether it is lost
            if self._taking.is_set() and worker.lost:
                # Its parent-death signal, not the batch's stop: the grader's fault.
                failure = GraderBugError("the batch's worker launcher ended while it graded")
                return Finished(job, None, seconds, failure)
            return Finished(job, None, seconds, interrupted=True)
        if answer["status"] != "graded":
            return Finished(job, None, seconds, _error(answer), answer.get("cleanup"))
        recorded = read_record(self.lab, job.target / RECORD_NAME, job.submission)
        if recorded is None or not (job.target / PENDING_RESULTS).is_file():
            failure = GraderBugError(f"the worker graded {job.name} but left no complete record")
            return Finished(job, None, seconds, failure)
        result, graded_s = recorded
        return Finished(job, result, graded_s, cleanup_problem=answer.get("cleanup"))


def _error(answer: dict[str, Any]) -> InfrastructureError:
    """The worker's failure as the exception it was (InfrastructureError or a subclass)."""
    kind = getattr(errors, str(answer.get("error")), None)
    if not (isinstance(kind, type) and issubclass(kind, InfrastructureError)):
        kind = InfrastructureError
    return kind(str(answer.get("message", "")))


def grade_into(
    lab: LabSpec, submission: Path, target: Path, backend: str = "docker"
) -> dict[str, Any]:
    """Grades one submission and writes its reports into `target`; returns the worker's answer.

    Raises KeyboardInterrupt when interrupted (its containers and network are removed first).
    """
    from grader.grading import grade_submission
    from grader.reporting.atomic import write_atomically
    from grader.reporting.gradescope import write_results_json
    from grader.reporting.terminal import feedback_markdown

    forget_reports(target)
    started = time.monotonic()
    outcome = grade_submission(
        lab,
        submission,
        skip_hidden=False,
        junit_xml=target / "junit.xml",
        captures=target / "captures",
        backend=backend,
    )
    if outcome.result is None:
        failure = outcome.infrastructure_failure or GraderBugError("the grader did not finish")
        return {
            "status": "not-graded",
            "error": type(failure).__name__,
            "message": str(failure),
            "cleanup": outcome.cleanup_problem,
        }
    elapsed_s = time.monotonic() - started
    write_record(outcome.result, elapsed_s, lab, target / RECORD_NAME)
    write_atomically(target / "feedback.md", feedback_markdown(outcome.result))
    write_results_json(outcome.result, target / PENDING_RESULTS, elapsed_s)
    return {"status": "graded", "cleanup": outcome.cleanup_problem}


def publish(target: Path) -> None:
    """Puts a graded submission's results.json in place, once its gradebook row is written.

    So a results.json on disk always has its row, however the batch is stopped.
    """
    os.replace(target / PENDING_RESULTS, target / "results.json")


def _end_with_parent() -> None:
    """Asks Linux to send this process SIGTERM when its parent, the worker launcher, dies:
    the launcher ends when the batch does (its control socket closes).

    Strictly, when the launcher's thread that forked it ends (prctl(2)): it has one thread.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() == 1:  # the launcher died before the request took effect
            raise SystemExit(130)


def _answer(channel: IO[str], answer: dict[str, Any]) -> None:
    """Sends an answer to the batch; ends this worker at once when the batch is gone.

    Only called between gradings, when this worker's containers are already removed; the
    abrupt end keeps the unsendable answer from being flushed (and failing) again at exit.
    """
    try:
        channel.write(json.dumps(answer) + "\n")
        channel.flush()
    except OSError:
        os._exit(130)


LAUNCHER_BOOTSTRAP = (
    "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN);"
    " signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    " import runpy; runpy.run_module('grader.batch', run_name='__main__', alter_sys=True)"
)
"""`python -c` for the worker launcher: SIGINT and SIGTERM ignored before its imports (a
Ctrl-C while it imports would print a traceback), then `python -m grader.batch`."""
WORKER_ENTRY = "worker"
"""What the pool asks the worker launcher to fork: a worker (worker_main)."""


def worker_main(lab: LabSpec, backend: str) -> int:
    """A batch worker: grades each request read from stdin (see the module docstring) and
    returns its exit status, 0 when stdin ends and 130 when interrupted.

    SIGTERM (from the batch) and SIGINT (Ctrl-C reaches the whole process group) interrupt
    the grading as Ctrl-C does in `socketlab check` (grader.interrupts): its containers are
    removed, and a second signal waits for that; whatever it still cuts short, the batch
    sweeps by its owner label once its workers have ended.
    """
    channel: IO[str] = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # nothing printed while grading can reach the channel
    with interrupts.deferred():
        _end_with_parent()
        try:
            while True:
                with interrupts.interruptible():
                    line = sys.stdin.readline()
                if not line:
                    return 0
                request = json.loads(line)
                try:
                    answer = grade_into(
                        lab, Path(request["submission"]), Path(request["target"]), backend
                    )
                except KeyboardInterrupt:
                    _answer(channel, {"status": "interrupted"})
                    return 130
                except Exception as e:  # a grader bug outside any check: this submission only
                    answer = {"status": "not-graded", "error": "GraderBugError", "message": repr(e)}
                _answer(channel, answer)
        except KeyboardInterrupt:
            return 130


def fork_server(spec: Path, hidden_checks: Path | None, backend: str, fd: int) -> None:
    """The batch's worker launcher: loads the spec and imports what a grading uses, once,
    then forks a worker (worker_main) for each request on the socket descriptor `fd`
    (grader/probes/launcher.py's protocol), until the batch closes its end.

    Raises what load_spec raises (SpecError) when the spec cannot be loaded.
    """
    from grader.spec.loader import load_spec

    serve_workers(load_spec(spec, hidden_checks), backend, fd)


def serve_workers(lab: LabSpec, backend: str, fd: int) -> None:
    """Forks a worker (worker_main) for each request on the socket descriptor `fd`
    (grader/probes/launcher.py's protocol), until the batch closes its end."""
    import grader.grading  # what grade_into imports, for every fork to share
    import grader.reporting.atomic
    import grader.reporting.gradescope
    import grader.reporting.terminal
    from grader.probes import launcher as fork_server_module

    if backend == "local":
        import grader.sandbox.local  # noqa: F401
    # The workers end on their own when this process dies (parent-death signal), and clean
    # up as when the batch stops them: not stopped here as orphaned probes are.
    fork_server_module.main(
        fd, {WORKER_ENTRY: lambda: _forked_worker(lab, backend)}, stop_orphans=False
    )


def _forked_worker(lab: LabSpec, backend: str) -> None:
    """A worker in the fork the worker launcher made; exits with worker_main's status.

    A fork ends by os._exit, which runs no atexit function: the worker's own probe launcher
    (grader.sandbox.launcher) is ended here, else it would outlive the worker as an orphan,
    a zombie in a container whose init reaps nothing.
    """
    from grader.sandbox.launcher import close_launcher

    try:
        code = worker_main(lab, backend)
    finally:
        close_launcher()
    sys.exit(code)


def worker_arguments(argv: Sequence[str]) -> argparse.Namespace:
    """`SPEC [--backend NAME] [--hidden-checks FILE] --fork-server FD`: the worker
    launcher's command line."""
    parser = argparse.ArgumentParser(prog="python -m grader.batch")
    parser.add_argument("spec", type=Path)
    parser.add_argument("--backend", choices=("docker", "local"), default="docker")
    parser.add_argument("--hidden-checks", type=Path, default=None)
    parser.add_argument("--fork-server", type=int, required=True, metavar="FD")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = worker_arguments(sys.argv[1:])
    fork_server(arguments.spec, arguments.hidden_checks, arguments.backend, arguments.fork_server)
