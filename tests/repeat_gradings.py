"""Grades every lab's solution, starter and broken submissions several times and compares.

    python -m tests.repeat_gradings [--times 3] [--lab 01-tcp-hello ...] [--concurrent]

The same submission must get the same score and the same failed checks on every run, also
on a loaded machine (`--concurrent` grades the runs of a lab at the same time). Prints each
gradebook row that differs between runs and exits 1 if any does. Too long for `make test`
(tests/test_labNN_grading.py grade the catalogue once; tests/test_repeatable.py repeats the
submission that was seen to change under load); run it before a release.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.submissions import LAB01, LAB02, LAB03, REPOSITORY

CATALOGUE = {"01-tcp-hello": LAB01, "02-tcp-echo": LAB02, "03-udp-ping": LAB03}


def grade_once(lab: str, submissions: list[Path], out: Path) -> dict[str, list[str]]:
    """One `socketlab grade` of the submissions; gradebook rows by submission name.

    Raises:
        RuntimeError: the grader exited non-zero (an infrastructure error).
    """
    command = [sys.executable, "-m", "grader.cli", "grade", lab, *map(str, submissions)]
    process = subprocess.run(
        [*command, "--out", str(out)], cwd=REPOSITORY, capture_output=True, text=True, check=False
    )
    if process.returncode != 0:
        raise RuntimeError(f"{lab}: socketlab grade exited {process.returncode}:\n{process.stderr}")
    with (out / "gradebook.csv").open(newline="") as gradebook:
        return {row[0]: row[1:] for row in list(csv.reader(gradebook))[1:]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--times", type=int, default=3)
    parser.add_argument("--lab", action="append", choices=sorted(CATALOGUE))
    parser.add_argument("--concurrent", action="store_true", help="a lab's runs at once")
    arguments = parser.parse_args()
    differs = False
    with tempfile.TemporaryDirectory(prefix="repeat-gradings-") as scratch:
        for lab in arguments.lab or sorted(CATALOGUE):
            parent = Path(scratch) / lab
            parent.mkdir()
            submissions = [REPOSITORY / "solutions" / lab, REPOSITORY / "labs" / lab]
            submissions += [broken.materialize(parent) for broken in CATALOGUE[lab]]
            outs = [Path(scratch) / f"{lab}-out-{run}" for run in range(arguments.times)]
            workers = arguments.times if arguments.concurrent else 1
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(grade_once, lab, submissions, out) for out in outs]
                runs = [future.result() for future in futures]
            names = sorted(set().union(*runs))
            changed = [
                name for name in names if any(run.get(name) != runs[0].get(name) for run in runs)
            ]
            print(f"{lab}: {len(names)} submissions, {arguments.times} runs, {len(changed)} differ")
            for name in changed:
                differs = True
                for number, run in enumerate(runs, 1):
                    print(f"  {name} run {number}: {run.get(name)}")
    return 1 if differs else 0


if __name__ == "__main__":
    raise SystemExit(main())
