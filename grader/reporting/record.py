"""grade.json: what a batch needs of one graded submission, to rebuild its gradebook row.

`socketlab grade` writes it (atomically) just before results.json, so a submission whose
results.json is on disk has its record too: `--resume` and the batch's worker processes
rebuild the gradebook from these files, never from memory, and a gradebook written with
`--jobs 4` is the one `--jobs 1` writes. The record names the lab, the digest of the spec it
was graded under and the submission directory; a record of another lab, another spec or
another directory is not complete, and the submission is graded again.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from grader.reporting.atomic import write_atomically
from grader.results import CheckResult, SubmissionResult
from grader.spec.model import LabSpec

RECORD_NAME = "grade.json"
RECORD_VERSION = 3


def spec_digest(lab: LabSpec) -> str:
    """The SHA-256 of the lab's spec.yaml as it is now, and of its hidden-checks file when
    there is one: a record made under other checks is stale."""
    digest = hashlib.sha256(lab.path.read_bytes())
    if lab.hidden_checks_path is not None:
        digest.update(b"\0hidden-checks\0" + lab.hidden_checks_path.read_bytes())
    return digest.hexdigest()


def write_record(result: SubmissionResult, seconds: float, lab: LabSpec, path: Path) -> None:
    """Writes `result`'s scores and how long its grading took (`seconds`) to `path`."""
    document = {
        "version": RECORD_VERSION,
        "lab": result.lab_id,
        "spec_sha256": spec_digest(lab),
        "submission": str(result.submission),
        "seconds": round(seconds, 3),
        "notes": list(result.notes),
        "missing_files": list(result.missing_files),
        "checks": [
            {
                "id": check.check_id,
                "points": check.points,
                "max_points": check.max_points,
                "status": check.status,
            }
            for check in result.checks
        ],
    }
    write_atomically(path, json.dumps(document, indent=2) + "\n")


def other_labs(out: Path, lab: LabSpec) -> list[str]:
    """The ids of labs other than `lab` whose records are in `out`'s subdirectories, sorted.

    `socketlab grade` refuses such an --out: grading another lab there would replace those
    results. Unreadable records are left out (they name no lab).
    """
    found = set()
    for path in out.glob(f"*/{RECORD_NAME}"):
        try:
            found.add(str(json.loads(path.read_text(encoding="utf-8"))["lab"]))
        except Exception:  # not a record this version can read: it claims no lab
            continue
    return sorted(found - {lab.id})


def read_record(
    lab: LabSpec, path: Path, submission: Path | None = None
) -> tuple[SubmissionResult, float] | None:
    """The result and grading time (s) recorded at `path`, or None when it is not complete.

    Not complete: the file is absent, unreadable or malformed in any way, or it is about
    another lab, another spec.yaml than the lab's today (spec_digest), or another submission
    directory than `submission` (when given). Titles, kinds and hidden flags come from the
    spec; verdicts are not kept.
    """
    try:
        return _read(lab, path, submission)
    except Exception:  # whatever is wrong with the file, the submission is graded again
        return None


def _read(
    lab: LabSpec, path: Path, submission: Path | None
) -> tuple[SubmissionResult, float] | None:
    document: Any = json.loads(path.read_text(encoding="utf-8"))
    if (
        document["version"] != RECORD_VERSION
        or document["lab"] != lab.id
        or document["spec_sha256"] != spec_digest(lab)
        or (submission is not None and document["submission"] != str(submission))
    ):
        return None
    specs = {check.id: check for check in lab.checks}
    recorded = document["checks"]
    if [entry["id"] for entry in recorded] != list(specs):
        return None
    checks = []
    for entry in recorded:
        spec = specs[entry["id"]]
        points, status = _number(entry["points"]), entry["status"]
        if (
            status not in ("passed", "failed", "error")
            or _number(entry["max_points"]) != spec.points
            or not 0 <= points <= spec.points
        ):
            return None
        checks.append(
            CheckResult(spec.id, spec.title, spec.kind, spec.points, points, status, spec.hidden)
        )
    notes, missing = document["notes"], document["missing_files"]
    for strings in (notes, missing):
        if not (isinstance(strings, list) and all(isinstance(text, str) for text in strings)):
            return None
    result = SubmissionResult(
        lab.id, Path(document["submission"]), tuple(checks), tuple(notes), tuple(missing)
    )
    return result, _number(document["seconds"])


def _number(raw: object) -> float:
    """A finite JSON number; anything else raises ValueError."""
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise ValueError(f"not a number: {raw!r}")
    return float(raw)
