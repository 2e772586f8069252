"""Measures grading speed and memory against targets, in one run on this machine.

    make bench                                   (or: .venv/bin/python bench/run.py)
    .venv/bin/python bench/run.py --quick        (without the 50-submission batch)
    .venv/bin/python bench/run.py --with-make-test   (adds `make test` on a fresh clone, ~25 min)

What it measures, in this order: the bare `docker run` floor; the local backend (one grading
of each lab's solution, as a ratio to the bare run and against LOCAL_TARGET_S for lab 01, and
50-submission batches with --jobs 1, 2, 4: lab 01's mixed batch below and 50 solutions);
one grading of each lab's
solution and starter (with bench/breakdown.py's per-grading breakdown) and its ratio to the
bare run; a batch of 50 lab 01 submissions graded by `socketlab grade` with --jobs 1, 2, 4
(--jobs N>1 is reported "not available" when the CLI lacks the option); the grader process's
peak RSS while grading submissions that flood their output; and, only with
--with-make-test, `make test` on a fresh clone. It prints a table with each number's target
and writes everything to bench/results/<timestamp>.json (ignored by git).

Absolute seconds depend on the machine and on what else runs on it (recorded in the JSON);
the ratios to the bare run are what to compare between changes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from bench.breakdown import as_dict, graded_with_breakdown  # noqa: E402
from grader.sandbox.image import runtime_image  # noqa: E402
from tests.broken import Broken  # noqa: E402
from tests.submissions import LAB01, LAB02  # noqa: E402

LABS = ("01-tcp-hello", "02-tcp-echo", "03-udp-ping")
RATIO_TARGETS = {"01-tcp-hello": 5.0, "02-tcp-echo": 10.0, "03-udp-ping": 10.0}
BATCH_TARGET_PER_S = 0.5
MEMORY_TARGET_MB = 150.0
MAKE_TEST_TARGET_S = 600.0
BATCH_SIZE = 50
BATCH_SOLUTIONS = 10
BATCH_STARTERS = 10
BATCH_JOBS = (1, 2, 4)
LOCAL_TARGET_S = {"01-tcp-hello": 2.0}
LOCAL_BATCH_TARGET_PER_S = 5.0
LOCAL_BATCH_JOBS = (1, 4, 12, 16)
"""The local backend's gradings mostly wait (the spec's pauses and timeouts), so more of them
fit side by side than Docker's: up to where the cores are busy."""
# Submissions that flood what the grader reads back: stderr through Docker's log (lab 01) and
# bytes at the grader's reference client (lab 02).
FLOODERS = (("01-tcp-hello", "client-floods-stderr"), ("02-tcp-echo", "server-floods-echo"))


@dataclass(frozen=True)
class Row:
    """One line of the printed table: a measured value next to its target, if it has one."""

    name: str
    value: str
    target: str = ""
    met: bool | None = None

    def line(self) -> str:
        verdict = {None: "", True: "met", False: "MISSED"}[self.met]
        return f"{self.name:52} {self.value:>22}  {self.target:>12}  {verdict}"


def timed(action: Callable[[], object], repeat: int) -> list[float]:
    durations = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        durations.append(time.perf_counter() - started)
    return durations


def bare_docker_run(network: str) -> None:
    subprocess.run(
        ["docker", "run", "--rm", "--network", network, runtime_image(), "python3", "-c", "pass"],
        check=True,
        capture_output=True,
    )


def bare_run_floor_s(repeat: int) -> float:
    """Median seconds of `docker run --rm` of `python3 -c pass` on a fresh internal network."""
    network = f"socketlab-bench-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["docker", "network", "create", "--internal", network], check=True, capture_output=True
    )
    try:
        return statistics.median(timed(lambda: bare_docker_run(network), repeat))
    finally:
        subprocess.run(["docker", "network", "rm", network], check=False, capture_output=True)


def machine_state() -> dict[str, Any]:
    """What else runs here: other containers and the load average (the bench is not alone)."""
    containers = subprocess.run(
        ["docker", "ps", "-q"], capture_output=True, text=True, check=False
    ).stdout.split()
    return {"running_containers": len(containers), "load_average": os.getloadavg()}


def docker_version() -> str:
    return subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()


def source_state() -> dict[str, Any]:
    """The commit measured, and grader files that differ from it (others' work in progress)."""

    def git(*arguments: str) -> str:
        return subprocess.run(
            ["git", *arguments], cwd=REPOSITORY, capture_output=True, text=True, check=False
        ).stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted": git("status", "--short", "grader").splitlines(),
    }


def lab_gradings(repeat: int, bare_s: float) -> tuple[dict[str, Any], list[Row]]:
    """Each lab's solution and starter graded `repeat` times in this process (median seconds)."""
    report: dict[str, Any] = {}
    rows: list[Row] = []
    for lab_id in LABS:
        for which, parent in (("solution", "solutions"), ("starter", "labs")):
            submission = REPOSITORY / parent / lab_id
            durations, breakdown, passed = [], None, False
            for _ in range(repeat):
                timeline, passed = graded_with_breakdown(lab_id, submission)
                durations.append(timeline.total_s())
                breakdown = breakdown or as_dict(timeline)
            median_s = statistics.median(durations)
            ratio = median_s / bare_s
            # The targets are for solutions: a starter's grading mostly waits out the spec's
            # timeouts (its programs do not finish), which no grader can shorten.
            target = RATIO_TARGETS[lab_id] if which == "solution" else None
            report[f"{lab_id}/{which}"] = {
                "grading_s": round(median_s, 2),
                "runs_s": [round(d, 2) for d in durations],
                "over_bare_run": round(ratio, 1),
                "target_over_bare_run": target,
                "all_passed": passed,
                "breakdown": breakdown,
            }
            value = f"{median_s:.1f} s = {ratio:.0f}x bare"
            if target is None:
                rows.append(Row(f"{lab_id} {which} graded", value, "(timeouts)"))
            else:
                rows.append(
                    Row(f"{lab_id} {which} graded", value, f"<= {target:g}x", ratio <= target)
                )
    return report, rows


def socketlab_command() -> list[str]:
    installed = Path(sys.executable).parent / "socketlab"
    return [str(installed)] if installed.exists() else [sys.executable, "-m", "grader.cli"]


def jobs_option_available() -> bool:
    """Whether `socketlab grade --help` lists --jobs (another change adds it)."""
    help_text = subprocess.run(
        [*socketlab_command(), "grade", "--help"], capture_output=True, text=True, check=False
    ).stdout
    return "--jobs" in help_text


def batch_submissions(parent: Path) -> list[Path]:
    """BATCH_SIZE lab 01 submissions: copies of the solution and the starter, and broken ones.

    The broken ones are the first entries of tests/submissions.py's lab 01 catalogue,
    materialised the way tests/grade_broken.py does.
    """
    directories = []
    for index in range(BATCH_SOLUTIONS):
        target = parent / f"solution-{index:02}"
        shutil.copytree(REPOSITORY / "solutions" / "01-tcp-hello", target)
        directories.append(target)
    starter = REPOSITORY / "labs" / "01-tcp-hello"
    for index in range(BATCH_STARTERS):
        target = parent / f"starter-{index:02}"
        target.mkdir()
        for name in ("server.py", "client.py"):
            shutil.copyfile(starter / name, target / name)
        directories.append(target)
    broken_count = BATCH_SIZE - BATCH_SOLUTIONS - BATCH_STARTERS
    if len(LAB01) < broken_count:
        raise AssertionError(f"tests/submissions.py has only {len(LAB01)} lab 01 entries")
    directories += [broken.materialize(parent) for broken in LAB01[:broken_count]]
    return directories


def graded_batch(
    submissions: list[Path], out: Path, jobs: int | None, backend: str = "docker"
) -> tuple[float, int]:
    """Seconds `socketlab grade 01-tcp-hello ... --out OUT [--jobs N]` took, and its exit code."""
    command = [*socketlab_command(), "grade", "01-tcp-hello", *map(str, submissions)]
    command += ["--out", str(out), "--backend", backend]
    if jobs is not None:
        command += ["--jobs", str(jobs)]
    started = time.perf_counter()
    process = subprocess.run(command, cwd=REPOSITORY, capture_output=True, check=False)
    return time.perf_counter() - started, process.returncode


def batch_throughput(workdir: Path) -> tuple[dict[str, Any], list[Row]]:
    parent = workdir / "batch"
    parent.mkdir()
    submissions = batch_submissions(parent)
    available = jobs_option_available()
    report: dict[str, Any] = {"submissions": len(submissions), "jobs_option": available}
    rows = []
    for jobs in BATCH_JOBS:
        name = f"batch of {len(submissions)} lab 01, --jobs {jobs}"
        if jobs > 1 and not available:
            report[f"jobs_{jobs}"] = "not available"
            rows.append(Row(name, "not available", f">= {BATCH_TARGET_PER_S} /s"))
            continue
        seconds, exit_code = graded_batch(
            submissions, workdir / f"out-{jobs}", jobs if available else None
        )
        per_s = len(submissions) / seconds
        report[f"jobs_{jobs}"] = {
            "seconds": round(seconds, 1),
            "submissions_per_s": round(per_s, 3),
            "exit_code": exit_code,
        }
        value = f"{per_s:.2f} /s ({seconds:.0f} s)" + (
            "" if exit_code == 0 else f" exit {exit_code}"
        )
        rows.append(Row(name, value, f">= {BATCH_TARGET_PER_S} /s", per_s >= BATCH_TARGET_PER_S))
    return report, rows


def cpu_seconds() -> float:
    """CPU time (user + system, seconds) of this process, of the children it has reaped, and
    of its probe launcher with the probes it has reaped: a grading's programs, recorders,
    peers and tcpdump."""
    from grader.sandbox import launcher

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    reaped = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    return reaped + launcher.cpu_seconds()


def machine_busy_s() -> float:
    """The machine's CPU time in use so far, all cores (seconds): user, nice, system, irq and
    softirq from /proc/stat (proc(5)); the local batches' workers, launchers and programs
    are not all this process's children."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def local_gradings(repeat: int, bare_s: float) -> tuple[dict[str, Any], list[Row]]:
    """Each lab's solution graded `repeat` times on the local backend, in this process."""
    from grader.grading import grade_submission
    from grader.spec.loader import load_spec

    report: dict[str, Any] = {}
    rows: list[Row] = []
    for lab_id in LABS:
        lab = load_spec(REPOSITORY / "labs" / lab_id / "spec.yaml")
        submission = REPOSITORY / "solutions" / lab_id
        durations, cpus, passed = [], [], False
        for _ in range(repeat):
            started, cpu_before = time.perf_counter(), cpu_seconds()
            outcome = grade_submission(lab, submission, skip_hidden=False, backend="local")
            durations.append(time.perf_counter() - started)
            cpus.append(cpu_seconds() - cpu_before)
            passed = outcome.result is not None and outcome.result.all_passed
        median_s = statistics.median(durations)
        cpu_s = statistics.median(cpus)
        target = LOCAL_TARGET_S.get(lab_id)
        report[f"{lab_id}/solution"] = {
            "grading_s": round(median_s, 2),
            "runs_s": [round(d, 2) for d in durations],
            "over_bare_run": round(median_s / bare_s, 1),
            "cpu_s": round(cpu_s, 2),
            "target_s": target,
            "all_passed": passed,
        }
        value = (
            f"{median_s:.1f} s = {median_s / bare_s:.1f}x bare, {cpu_s:.2f} s of CPU"
            f" (at most {os.cpu_count() or 1:d} / {cpu_s:.2f} = {(os.cpu_count() or 1) / cpu_s:.1f}"
            " per s on this machine's cores)"
        ) + ("" if passed else " FAILED")
        met = None if target is None else median_s < target and passed
        rows.append(
            Row(f"local: {lab_id} solution", value, f"< {target:g} s" if target else "", met)
        )
    return report, rows


def local_batches(workdir: Path) -> tuple[dict[str, Any], list[Row]]:
    """The lab 01 batch (as batch_throughput's) and 50 solutions, on the local backend."""
    mixed = workdir / "local-batch"
    mixed.mkdir()
    solutions = workdir / "local-solutions"
    solutions.mkdir()
    kinds = {
        "mixed": batch_submissions(mixed),
        "solutions": [
            Path(shutil.copytree(REPOSITORY / "solutions" / "01-tcp-hello", solutions / f"s{i:02}"))
            for i in range(BATCH_SIZE)
        ],
    }
    report: dict[str, Any] = {}
    rows = []
    for kind, submissions in kinds.items():
        for jobs in LOCAL_BATCH_JOBS:
            out = workdir / f"local-out-{kind}-{jobs}"
            busy_before = machine_busy_s()
            seconds, exit_code = graded_batch(submissions, out, jobs, backend="local")
            busy_s = machine_busy_s() - busy_before
            per_s = len(submissions) / seconds
            cores = os.cpu_count() or 1
            report[f"{kind}/jobs_{jobs}"] = {
                "seconds": round(seconds, 1),
                "submissions_per_s": round(per_s, 3),
                "exit_code": exit_code,
                "machine_cpu_s": round(busy_s, 1),
                "cores_busy": round(busy_s / (seconds * cores), 2),
            }
            value = (
                f"{per_s:.2f} /s ({seconds:.0f} s; {busy_s / len(submissions):.2f} s of CPU"
                f" each, cores {busy_s / (seconds * cores):.0%} busy)"
            ) + ("" if exit_code in (0, 1) else f" exit {exit_code}")
            target = LOCAL_BATCH_TARGET_PER_S
            rows.append(
                Row(
                    f"local: {len(submissions)} lab 01 {kind}, --jobs {jobs}",
                    value,
                    f">= {target:g} /s",
                    per_s >= target,
                )
            )
    return report, rows


def peak_rss_mb(command: list[str]) -> tuple[float, int, float]:
    """The peak RSS (MB) of `command`'s process tree's largest process, exit code, seconds.

    os.wait4 gives the rusage of that one child of the bench; Linux folds into its ru_maxrss
    the largest of the descendants it reaped (`socketlab grade` grades in worker processes
    since --jobs), so this is the biggest single grader process, not a sum over workers.
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=REPOSITORY, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, process.returncode, time.perf_counter() - started


def grader_memory(workdir: Path) -> tuple[dict[str, Any], list[Row]]:
    """Peak RSS of `socketlab grade` for lab 01's solution and for each of FLOODERS."""
    catalogue: dict[str, tuple[Broken, ...]] = {"01-tcp-hello": LAB01, "02-tcp-echo": LAB02}
    parent = workdir / "memory"
    parent.mkdir()
    cases = [("01-tcp-hello", "solution", REPOSITORY / "solutions" / "01-tcp-hello")]
    for lab_id, name in FLOODERS:
        entry = next(broken for broken in catalogue[lab_id] if broken.name == name)
        cases.append((lab_id, name, entry.materialize(parent)))
    report: dict[str, Any] = {}
    rows = []
    for lab_id, name, submission in cases:
        out = workdir / f"memory-out-{name}"
        command = [*socketlab_command(), "grade", lab_id, str(submission), "--out", str(out)]
        if jobs_option_available():
            command += ["--jobs", "1"]
        megabytes, exit_code, seconds = peak_rss_mb(command)
        report[f"{lab_id}/{name}"] = {
            "peak_rss_mb": round(megabytes, 1),
            "exit_code": exit_code,
            "seconds": round(seconds, 1),
        }
        rows.append(
            Row(
                f"grader peak RSS, {lab_id} {name}",
                f"{megabytes:.0f} MB",
                f"< {MEMORY_TARGET_MB:g} MB",
                megabytes < MEMORY_TARGET_MB,
            )
        )
    return report, rows


def make_test_on_fresh_clone(workdir: Path) -> tuple[dict[str, Any], list[Row]]:
    """`make setup` then `make test` (timed alone) in a fresh clone of this repository's HEAD."""
    clone = workdir / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPOSITORY), str(clone)], check=True)
    started = time.perf_counter()
    setup = subprocess.run(["make", "setup"], cwd=clone, capture_output=True, check=False)
    setup_s = time.perf_counter() - started
    report: dict[str, Any] = {"setup_s": round(setup_s, 1), "setup_exit_code": setup.returncode}
    if setup.returncode != 0:
        report["make_test"] = "make setup failed: " + setup.stderr.decode(errors="replace")[-500:]
        return report, [Row("make test (fresh clone)", "setup failed", "< 10 min", False)]
    started = time.perf_counter()
    test = subprocess.run(["make", "test"], cwd=clone, capture_output=True, check=False)
    test_s = time.perf_counter() - started
    report.update({"make_test_s": round(test_s, 1), "make_test_exit_code": test.returncode})
    value = f"{test_s / 60:.1f} min" + ("" if test.returncode == 0 else f" exit {test.returncode}")
    return report, [Row("make test (fresh clone)", value, "< 10 min", test_s < MAKE_TEST_TARGET_S)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="gradings per lab and submission")
    parser.add_argument("--bare-runs", type=int, default=7, help="bare docker runs (median)")
    parser.add_argument("--quick", action="store_true", help="skip the 50-submission batch")
    parser.add_argument(
        "--with-make-test", action="store_true", help="also time `make test` on a fresh clone"
    )
    parser.add_argument(
        "--local-only", action="store_true", help="only the floor and the local backend"
    )
    arguments = parser.parse_args()
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "docker": docker_version(),
            "python": platform.python_version(),
        },
        "before": machine_state(),
        "source": source_state(),
    }
    bare_s = bare_run_floor_s(arguments.bare_runs)
    report["bare_docker_run_s"] = round(bare_s, 3)
    rows = [Row("bare docker run (floor)", f"{bare_s:.2f} s")]
    report["local_gradings"], local_rows = local_gradings(arguments.repeat, bare_s)
    rows += local_rows
    if not arguments.local_only:
        report["gradings"], grading_rows = lab_gradings(arguments.repeat, bare_s)
        rows += grading_rows
    with tempfile.TemporaryDirectory(prefix="socketlab-bench-") as scratch:
        workdir = Path(scratch)
        if not arguments.quick:
            report["local_batches"], local_batch_rows = local_batches(workdir)
            rows += local_batch_rows
        if arguments.local_only:
            pass
        elif arguments.quick:
            report["batch"] = "skipped (--quick)"
            rows.append(Row(f"batch of {BATCH_SIZE} lab 01", "skipped (--quick)"))
        else:
            report["batch"], batch_rows = batch_throughput(workdir)
            rows += batch_rows
        if not arguments.local_only:
            report["memory"], memory_rows = grader_memory(workdir)
            rows += memory_rows
        if arguments.with_make_test:
            report["make_test"], make_rows = make_test_on_fresh_clone(workdir)
            rows += make_rows
        else:
            report["make_test"] = "skipped"
            rows.append(Row("make test (fresh clone)", "skipped", "< 10 min"))
    report["after"] = machine_state()
    report["bench_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    results = REPOSITORY / "bench" / "results"
    results.mkdir(exist_ok=True)
    path = results / f"{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"{'measure':52} {'value':>22}  {'target':>12}")
    for row in rows:
        print(row.line())
    before, after = report["before"], report["after"]
    print(
        f"\nother containers running: {before['running_containers']} before,"
        f" {after['running_containers']} after; load average before"
        f" {before['load_average'][0]:.1f}, after {after['load_average'][0]:.1f}"
    )
    print(f"wrote {path.relative_to(REPOSITORY)}")


if __name__ == "__main__":
    main()
