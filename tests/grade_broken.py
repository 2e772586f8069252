"""Grades some broken submissions of one lab and says how each compares with its entry.

    python -m tests.grade_broken 02-tcp-echo server-floods-echo client-prints-text [--solution]
    python -m tests.grade_broken 03-udp-ping --all --backend local

For working on one kind of mistake without grading a whole lab's batch (tests/test_labNN_*
grade them all). Prints, for each submission, the checks it failed that its entry does not
list (unexpected), the ones it passed that its entry lists (missed), and the words its
feedback lacks; exits 1 when any differ.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.submissions import LAB01, LAB02, LAB03, REPOSITORY

CATALOGUE = {"01-tcp-hello": LAB01, "02-tcp-echo": LAB02, "03-udp-ping": LAB03}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lab", choices=sorted(CATALOGUE))
    parser.add_argument("names", nargs="*", help="entries of tests/submissions.py")
    parser.add_argument("--all", action="store_true", help="every entry of the lab")
    parser.add_argument("--backend", choices=("docker", "local"), default="docker")
    parser.add_argument("--solution", action="store_true", help="also grade the solution")
    parser.add_argument("--keep", type=Path, help="grade into this directory and keep it")
    arguments = parser.parse_args()
    entries = {broken.name: broken for broken in CATALOGUE[arguments.lab]}
    if arguments.all:
        arguments.names = list(entries)
    unknown = [name for name in arguments.names if name not in entries]
    if unknown:
        parser.error(f"not in tests/submissions.py for {arguments.lab}: {', '.join(unknown)}")
    with tempfile.TemporaryDirectory(prefix="grade-broken-") as scratch:
        parent = Path(scratch) / "submissions"
        parent.mkdir()
        directories = [entries[name].materialize(parent) for name in arguments.names]
        if arguments.solution:
            directories.insert(0, REPOSITORY / "solutions" / arguments.lab)
        out = arguments.keep or Path(scratch) / "out"
        command = [sys.executable, "-m", "grader.cli", "grade", arguments.lab]
        command += ["--backend", arguments.backend]
        process = subprocess.run(
            [*command, *map(str, directories), "--out", str(out)], cwd=REPOSITORY, check=False
        )
        if process.returncode != 0:
            print(f"socketlab grade exited {process.returncode}")
            return 2
        differs = False
        for name in arguments.names:
            results = json.loads((out / name / "results.json").read_text())
            failed = {t["name"].split(":")[0] for t in results["tests"] if t["status"] != "passed"}
            feedback = "\n".join(
                [results.get("output", ""), *(t["output"] for t in results["tests"])]
            )
            broken = entries[name]
            unexpected = sorted(failed - broken.fails)
            missed = sorted(broken.fails - failed)
            lacking = [words for words in broken.mentions if words not in feedback]
            verdict = "as listed" if not (unexpected or missed or lacking) else "DIFFERS"
            differs = differs or verdict != "as listed"
            print(f"{name}: {results['score']} {verdict}")
            for label, items in (("unexpected", unexpected), ("missed", missed)):
                if items:
                    print(f"  {label}: {', '.join(items)}")
            if lacking:
                print(f"  feedback lacks: {lacking!r}")
        if arguments.solution:
            results = json.loads((out / arguments.lab / "results.json").read_text())
            print(f"solution: {results['score']}")
    return 1 if differs else 0


if __name__ == "__main__":
    raise SystemExit(main())
