"""The bundles' shell scripts, run with bash in a folder standing in for the platform's."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from grader.bundles import GRADESCOPE_RUN


def test_run_autograder_after_a_failed_setup_writes_a_not_graded_results_json(
    tmp_path: Path,
) -> None:
    """setup.sh failed (the wheels are for another Python): Gradescope may still run
    run_autograder, and the student must see why, not a bare zero."""
    (tmp_path / "source").mkdir()  # no lib/: what a failed setup.sh leaves
    script = GRADESCOPE_RUN.format(run="exit 3").replace("/autograder", str(tmp_path))
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert results["score"] == 0 and results["tests"] == []
    assert results["output"].startswith("Not graded: the autograder could not be installed")
    assert results["extra_data"] == {"socketlab_not_graded": True}
