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
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
LAB01_SPEC = REPOSITORY / "labs" / "01-tcp-hello" / "spec.yaml"
sys.path.insert(0, str(REPOSITORY))

import yaml  # noqa: E402

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


def grade_lab01_solution(spec: Path = LAB01_SPEC) -> None:
    lab = load_spec(spec)
    outcome = grade_submission(lab, REPOSITORY / "solutions" / "01-tcp-hello", skip_hidden=False)
    assert outcome.result is not None and outcome.result.all_passed, outcome


def lab01_with_only(check_id: str, parent: Path) -> Path:
    """A copy of lab 01's spec that keeps one check, in a lab directory of the same name."""
    spec = yaml.safe_load(LAB01_SPEC.read_text())
    spec["checks"] = [check for check in spec["checks"] if check["id"] == check_id]
    directory = parent / check_id / "01-tcp-hello"
    directory.mkdir(parents=True)
    (directory / "spec.yaml").write_text(yaml.safe_dump(spec))
    return directory / "spec.yaml"


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
    # The same server scenario judged without a capture (server-greeting) and with one
    # (server-close): the difference is what capturing costs.
    with tempfile.TemporaryDirectory() as workdir:
        plain = lab01_with_only("server-greeting", Path(workdir))
        captured = lab01_with_only("server-close", Path(workdir))
        without_capture = timed(lambda: grade_lab01_solution(plain), arguments.repeat)
        with_capture = timed(lambda: grade_lab01_solution(captured), arguments.repeat)
    report = {
        "bare_docker_run_s": round(statistics.median(bare), 3),
        "grade_lab01_solution_s": round(statistics.median(grading), 3),
        "grade_lab01_over_bare_run": round(statistics.median(grading) / statistics.median(bare), 1),
        "server_check_without_capture_s": round(statistics.median(without_capture), 3),
        "server_check_with_capture_s": round(statistics.median(with_capture), 3),
        "capture_overhead_ratio": round(
            statistics.median(with_capture) / statistics.median(without_capture), 2
        ),
    }
    results = REPOSITORY / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / f"{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(report, indent=2))
    for name, value in report.items():
        print(f"{name:32} {value}")


if __name__ == "__main__":
    main()
