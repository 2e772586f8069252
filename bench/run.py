"""Times a grading run against a bare `docker run` measured in the same run, and reports ratios.

    make bench            (or: .venv/bin/python bench/run.py --repeat 5)

Absolute seconds depend on the machine; the ratios are what to compare between changes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from grader.grading import grade_submission  # noqa: E402
from grader.sandbox.image import runtime_image  # noqa: E402
from grader.spec.loader import load_spec  # noqa: E402


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


def grade_lab01_solution() -> None:
    lab = load_spec(REPOSITORY / "labs" / "01-tcp-hello" / "spec.yaml")
    outcome = grade_submission(lab, REPOSITORY / "solutions" / "01-tcp-hello", skip_hidden=False)
    assert outcome.result is not None and outcome.result.all_passed, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    network = f"socketlab-bench-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["docker", "network", "create", "--internal", network], check=True, capture_output=True
    )
    try:
        bare = timed(lambda: bare_docker_run(network), arguments.repeat * 2)
    finally:
        subprocess.run(["docker", "network", "rm", network], check=False, capture_output=True)
    grading = timed(grade_lab01_solution, arguments.repeat)
    report = {
        "bare_docker_run_s": round(statistics.median(bare), 3),
        "grade_lab01_solution_s": round(statistics.median(grading), 3),
        "grade_lab01_over_bare_run": round(statistics.median(grading) / statistics.median(bare), 1),
    }
    results = REPOSITORY / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / f"{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(report, indent=2))
    for name, value in report.items():
        print(f"{name:32} {value}")


if __name__ == "__main__":
    main()
