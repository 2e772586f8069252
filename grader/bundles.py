"""Builds what an autograder platform runs socketlab from: Gradescope's zip, PrairieLearn's tests.

Both platforms grade each submission in a container of their own, as root, without a Docker
engine: socketlab runs there with the local backend (grader.sandbox.local). A bundle holds
everything it needs, so that nothing is fetched while grading:

    grader/          socketlab itself (this package, as installed)
    wheels/          its dependencies, as wheels for the platform's Python (pip download);
                     PrairieLearn's has them unpacked already, in lib/ (see
                     write_prairielearn_folder)
    lab/<id>/        the lab's spec.yaml (and hidden-checks.yaml, when given)
    ...              the platform's scripts (Gradescope: setup.sh, run_autograder;
                     PrairieLearn: run.sh and info.json's externalGradingOptions)

The scripts unpack the wheels with Python's own zipfile (no pip or venv needed in the image),
make socketlab's files readable by root only, and run `socketlab autograde`, which writes the
platform's results.json whatever happens.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from grader.errors import InfrastructureError
from grader.spec.model import LabSpec

PACKAGE = Path(__file__).resolve().parent
WHEEL_PLATFORM = "manylinux2014_x86_64"
"""Gradescope's and PrairieLearn's images are x86-64 Linux."""
PIP_TIMEOUT_S = 600.0
OPTIONS_FILE = "externalGradingOptions.json"
"""What `write_prairielearn_folder` says to merge into the question's info.json."""

GRADESCOPE_SETUP = """\
#!/usr/bin/env bash
# socketlab's Gradescope autograder for {lab}: made by `socketlab gradescope`.
# Installs socketlab from the wheels in this zip: nothing is downloaded but, when the image
# lacks them, python3 and tcpdump (packet checks) from the image's own packages.
set -euo pipefail
cd /autograder/source
cannot_install() {{ echo "socketlab: $1" >&2; exit 1; }}  # the instructor sees it at setup
{install}
"""

GRADESCOPE_RUN = """\
#!/usr/bin/env bash
# Grades /autograder/submission; writes /autograder/results/results.json in every case.
cd /autograder/source
if [ ! -d lib ]; then  # setup.sh failed, and said why; still, the student sees no bare zero
    mkdir -p /autograder/results
    printf '{{"score": 0, "output": "Not graded: the autograder could not be installed, which'\\
' is not your program'"'"'s fault; your instructor can regrade once it is fixed.",'\\
' "tests": [], "extra_data": {{"socketlab_not_graded": true}}}}\\n'\\
        > /autograder/results/results.json
    exit 0
fi
{run}
"""

PRAIRIELEARN_RUN = """\
#!/usr/bin/env bash
# socketlab's PrairieLearn external grader for {lab}: made by `socketlab prairielearn`.
# Grades /grade/student; writes /grade/results/results.json in every case.
cd /grade/tests
cannot_install() {{
    mkdir -p /grade/results
    printf '{{"gradable": false, "format_errors": ["Not graded: the autograder could not'\\
' start, which is no fault of your program: %s"]}}\\n' "$1" > /grade/results/results.json
    exit 0
}}
{install}
{run}
"""

INSTALL = """\
missing=""
command -v python3 >/dev/null || missing="python3"
command -v tcpdump >/dev/null || missing="$missing tcpdump"
if [ -n "$missing" ]; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing
fi
wanted="{python}"
found="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ "$found" != "$wanted" ]; then
    cannot_install "these wheels are for Python $wanted, the image has $found:"\\
" build the bundle again with --python-version $found"
fi
if [ ! -d lib ]; then
    mkdir -p lib.partial
    for wheel in wheels/*.whl; do python3 -m zipfile -e "$wheel" lib.partial; done
    mv lib.partial lib
fi"""

RUN = """\
mkdir -p {results_dir}
# The students' programs run as other users: they may read none of socketlab's files.
chmod -R go-rwx "$PWD" {results_dir}
export PYTHONPATH="$PWD/lib:$PWD"
python3 -s -m grader.cli autograde lab/{lab} --submission {submission} \\
    --results {results_dir}/results.json --format {format}{hidden}"""


def runtime_requirements() -> list[str]:
    """socketlab's dependencies and theirs (no extras), each pinned to the version installed
    here (`name==version`): the platform grades with what this machine was tested with."""
    pinned: dict[str, str] = {}
    pending = ["socketlab"]
    while pending:
        name = pending.pop()
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            key = requirement.name.lower().replace("_", "-")
            if key not in pinned:
                pinned[key] = f"{requirement.name}=={metadata.version(requirement.name)}"
                pending.append(requirement.name)
    return sorted(pinned.values())


def download_wheels(target: Path, python_version: str) -> None:
    """Downloads the wheels of socketlab's dependencies for `python_version` ("3.11") on x86-64
    Linux into `target`. Raises InfrastructureError when pip cannot (no network, no wheel)."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--only-binary=:all:",
        "--platform",
        WHEEL_PLATFORM,
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        "--dest",
        str(target),
        *runtime_requirements(),
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise InfrastructureError(f"pip download failed: {e}") from e
    if done.returncode != 0:
        raise InfrastructureError(f"pip could not download the wheels:\n{done.stderr[-3000:]}")


def lay_out(root: Path, lab: LabSpec, python_version: str) -> None:
    """Puts socketlab, the wheels and the lab (with its hidden checks) under `root`."""
    shutil.copytree(
        PACKAGE,
        root / "grader",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "lab_files"),
    )
    download_wheels(root / "wheels", python_version)
    lab_folder = root / "lab" / lab.id
    lab_folder.mkdir(parents=True)
    shutil.copy2(lab.path, lab_folder / "spec.yaml")
    if lab.hidden_checks_path is not None:
        shutil.copy2(lab.hidden_checks_path, root / "lab" / "hidden-checks.yaml")


def _scripts(
    lab: LabSpec, python_version: str, *, results_dir: str, submission: str, format: str
) -> tuple[str, str]:
    hidden = " --hidden-checks lab/hidden-checks.yaml" if lab.hidden_checks_path else ""
    install = INSTALL.format(python=python_version)
    run = RUN.format(
        lab=lab.id, results_dir=results_dir, submission=submission, format=format, hidden=hidden
    )
    return install, run


def write_gradescope_zip(lab: LabSpec, out: Path, python_version: str) -> None:
    """Writes Gradescope's autograder.zip for `lab` to `out`: setup.sh and run_autograder at
    its top, as Gradescope's autograder specification asks. Raises InfrastructureError when
    the wheels cannot be downloaded."""
    install, run = _scripts(
        lab,
        python_version,
        results_dir="/autograder/results",
        submission="/autograder/submission",
        format="gradescope",
    )
    with tempfile.TemporaryDirectory(prefix="socketlab-gradescope-") as scratch:
        root = Path(scratch)
        lay_out(root, lab, python_version)
        _executable(root / "setup.sh", GRADESCOPE_SETUP.format(lab=lab.id, install=install))
        _executable(root / "run_autograder", GRADESCOPE_RUN.format(run=run))
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(root.rglob("*")):
                info = zipfile.ZipInfo.from_file(path, path.relative_to(root).as_posix())
                if path.is_dir():
                    archive.writestr(info, b"")
                else:
                    info.compress_type = zipfile.ZIP_DEFLATED
                    archive.writestr(info, path.read_bytes())
        partial.replace(out)


def write_prairielearn_folder(lab: LabSpec, out: Path, python_version: str) -> None:
    """Writes a PrairieLearn question's `tests/` folder for `lab` into `out`, with run.sh its
    entrypoint, and the externalGradingOptions of info.json beside it (OPTIONS_FILE). Raises
    InfrastructureError when the wheels cannot be downloaded."""
    install, run = _scripts(
        lab,
        python_version,
        results_dir="/grade/results",
        submission="/grade/student",
        format="prairielearn",
    )
    tests = out / "tests"
    if tests.exists():
        shutil.rmtree(tests)
    tests.mkdir(parents=True)
    lay_out(tests, lab, python_version)
    # Unpacked here, once: PrairieLearn starts every grading from a fresh copy of /grade, so
    # run.sh would unpack them again each time (2 to 4 s), where Gradescope's setup.sh runs
    # once per autograder image.
    unpacking = tests / "lib.partial"
    for wheel in sorted((tests / "wheels").glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(unpacking)
    unpacking.rename(tests / "lib")
    shutil.rmtree(tests / "wheels")
    _executable(tests / "run.sh", PRAIRIELEARN_RUN.format(lab=lab.id, install=install, run=run))
    options = {
        "externalGradingOptions": {
            "enabled": True,
            "image": "YOUR-IMAGE-WITH-PYTHON-AND-TCPDUMP",
            "entrypoint": "/grade/tests/run.sh",
            "timeout": 300,
        }
    }
    (out / OPTIONS_FILE).write_text(json.dumps(options, indent=2) + "\n")


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)
