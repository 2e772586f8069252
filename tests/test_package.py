"""The installable package: the wheel carries the labs, a pip-installed socketlab grades a
student's two files from a folder that has nothing else, and the Classroom workflow's steps
run from it give the grading reporter its points with no command injected (issue 10)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from setuptools import find_packages

from grader.errors import LabNotFoundError
from grader.labs import find_lab
from tests.actions_runner import Runner
from tests.submissions import REPOSITORY
from tests.test_github import HOSTILE

pytestmark = pytest.mark.xdist_group("package")
"""One worker builds the wheel and its virtual environment once for the module."""

LABS = sorted(spec.parent.name for spec in (REPOSITORY / "labs").glob("*/spec.yaml"))
LAB_FILES = ("spec.yaml", "README.md", "server.py", "client.py")


def test_the_listed_packages_are_every_package_of_the_grader() -> None:
    """pyproject.toml lists the packages (to map labs/ in); a new subpackage must be added."""
    listed = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = find_packages(str(REPOSITORY), include=["grader", "grader.*"])
    assert sorted(listed["packages"]) == sorted([*found, "grader.lab_files"])
    assert listed["package-dir"] == {"grader.lab_files": "labs"}


def _wheel(source: str, into: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(into), source],
        check=True,
        cwd=into,
    )
    (wheel,) = into.glob("socketlab-*.whl")
    return wheel


def _source_copy(target: Path) -> Path:
    """What the wheel is built from, copied as it is now (uncommitted changes too): pip
    builds in the source tree, and this checkout must not gain build/ or *.egg-info."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in ("pyproject.toml", "README.md"):
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPOSITORY / name, target / name)
    for folder in ("grader", "labs"):
        shutil.copytree(REPOSITORY / folder, target / folder, ignore=ignore)
    return target


def _lab_files_in(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {n for n in archive.namelist() if n.startswith("grader/lab_files/")}


def test_a_wheel_built_from_a_git_reference_carries_every_lab(tmp_path: Path) -> None:
    """`pip install git+…@ref` builds from what the reference holds: the labs come along."""
    wheel = _wheel(f"git+file://{REPOSITORY}", tmp_path)
    expected = {f"grader/lab_files/{lab}/{name}" for lab in LABS for name in LAB_FILES}
    assert _lab_files_in(wheel) == expected


@dataclass(frozen=True)
class Installed:
    """socketlab installed from its wheel in a fresh virtual environment."""

    wheel: Path
    venv: Path

    @property
    def socketlab(self) -> str:
        return str(self.venv / "bin" / "socketlab")

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a shell that has this venv first on PATH (and no other venv)."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return {**env, **extra}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    where = tmp_path_factory.mktemp("package")
    wheel = _wheel(str(_source_copy(where / "source")), where)
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([venv / "bin" / "pip", "install", "--quiet", str(wheel)], check=True)
    return Installed(wheel, venv)


def _student_repository(parent: Path, client: str | None = None) -> Path:
    """A folder holding only the lab 01 solution's server.py and client.py (or `client`)."""
    student = parent / "student-repository"
    student.mkdir()
    for name in ("server.py", "client.py"):
        shutil.copy(REPOSITORY / "solutions" / "01-tcp-hello" / name, student / name)
    if client is not None:
        (student / "client.py").write_text(client)
    return student


@pytest.mark.docker
def test_a_pip_installed_socketlab_grades_two_files_outside_the_repository(
    installed: Installed, tmp_path: Path
) -> None:
    assert len(_lab_files_in(installed.wheel)) == len(LABS) * len(LAB_FILES)
    student = _student_repository(tmp_path)
    env = installed.env()

    listed = subprocess.run(
        [installed.socketlab, "labs"], cwd=student, env=env, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    for lab in LABS:
        assert lab in listed.stdout
    assert "TCP hello: one greeting over one connection" in listed.stdout
    # The labs come from the installed package, not from this checkout.
    assert str(REPOSITORY) not in listed.stdout
    assert "site-packages" in listed.stdout

    checked = subprocess.run(
        [installed.socketlab, "check", "01-tcp-hello", "--submission", "."],
        cwd=student,
        env=env,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Total: 15 / 15" in checked.stdout, checked.stdout

    # Without --submission, the installed lab's folder would be its starters, not the work.
    unsaid = subprocess.run(
        [installed.socketlab, "check", "01-tcp-hello"],
        cwd=student,
        env=env,
        capture_output=True,
        text=True,
    )
    assert unsaid.returncode == 2, unsaid.stdout + unsaid.stderr
    assert "--submission DIR" in unsaid.stdout + unsaid.stderr

    out = tmp_path / "out"
    graded = subprocess.run(
        [installed.socketlab, "grade", "01-tcp-hello", str(student), "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert graded.returncode == 0, graded.stdout + graded.stderr
    (results,) = out.glob("*/results.json")
    assert json.loads(results.read_text())["score"] == 15


CLASSROOM_WORKFLOW = REPOSITORY / ".github" / "classroom" / "autograding.yml"
HOSTILE_CLIENT = (
    (REPOSITORY / "solutions" / "01-tcp-hello" / "client.py").read_text()
    + "\nLINES = "
    + repr(HOSTILE)
    + "\nprint('\\n'.join(LINES))\nprint('\\n'.join(LINES), file=sys.stderr)\nsys.exit(3)\n"
)


def _run_steps(
    installed: Installed, student: Path, tmp_path: Path, hidden_checks: str | None = None
) -> tuple[str, Path, Path]:
    """The workflow's `run` steps in order, as the runner runs them (bash -e, the workflow's
    env, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY set); SOCKETLAB_SOURCE is the wheel.

    With `hidden_checks`, HIDDEN_CHECKS_REPOSITORY is set and the step that fetches that
    repository (actions/checkout into .socketlab-hidden) is played by writing the lab's file
    there. Returns the steps' log (stdout and stderr) and the two files.
    """
    workflow = yaml.safe_load(CLASSROOM_WORKFLOW.read_text())
    output, summary = tmp_path / "github_output", tmp_path / "step_summary"
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    env = installed.env(
        **{
            **workflow["env"],
            "SOCKETLAB_SOURCE": str(installed.wheel),
            "GITHUB_ACTIONS": "true",
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            "RUNNER_TEMP": str(runner_temp),
            "GITHUB_WORKSPACE": str(student),
            **({"HIDDEN_CHECKS_REPOSITORY": "course/private-checks"} if hidden_checks else {}),
        }
    )
    log = ""
    for step in workflow["jobs"]["run-autograding-tests"]["steps"]:
        fetched = step.get("with", {}).get("path") == ".socketlab-hidden"
        if fetched and hidden_checks is not None:
            (student / ".socketlab-hidden").mkdir()
            (student / ".socketlab-hidden" / f"{workflow['env']['LAB']}.yaml").write_text(
                hidden_checks
            )
        if "run" not in step:
            continue  # checkout, setup-python, the reporter: GitHub's own actions
        done = subprocess.run(
            ["bash", "-e", "-c", step["run"]],
            cwd=student,
            env=env,
            capture_output=True,
            text=True,
        )
        log += done.stdout + done.stderr
        assert done.returncode == 0, f"step {step.get('name')}: {done.stdout}{done.stderr}"
    return log, output, summary


def _reporter_input(output: Path) -> dict[str, Any]:
    (line,) = [line for line in output.read_text().splitlines() if line.startswith("result=")]
    return dict(json.loads(base64.b64decode(line.removeprefix("result="))))


@pytest.mark.docker
def test_the_classroom_workflow_steps_give_the_reporter_full_marks_for_the_solution(
    installed: Installed, tmp_path: Path
) -> None:
    student = _student_repository(tmp_path)
    log, output, summary = _run_steps(installed, student, tmp_path)
    document = _reporter_input(output)
    total = 0.0
    for test in document["tests"]:
        total += test["score"]
    assert total == document["max_score"] == 15
    assert all(test["status"] == "pass" for test in document["tests"])
    assert "15 / 15 points" in summary.read_text()
    assert "Total: 15 / 15" in log


@pytest.mark.docker
def test_nothing_a_program_prints_becomes_a_workflow_command(
    installed: Installed, tmp_path: Path
) -> None:
    student = _student_repository(tmp_path, HOSTILE_CLIENT)
    log, output, summary = _run_steps(installed, student, tmp_path)
    # The program's last lines of stderr did reach the log, in its feedback.
    assert "zero-width joiner" in log and "##\\[group]g" in log
    runner = Runner()
    runner.feed(log)
    # Only socketlab's own pairs: each command (image build, ci) stops and resumes.
    pairs = list(zip(runner.processed[::2], runner.processed[1::2], strict=True))
    assert pairs and all(stop == ("stop-commands", end[0]) for stop, end in pairs), pairs
    document = _reporter_input(output)
    assert document["status"] == "pass"  # a low score does not fail the reporter's step
    total = 0.0
    for test in document["tests"]:
        total += test["score"]
        # The reporter prints each name and message in the log, outside socketlab's step.
        reporter = Runner()
        reporter.feed(f"{test['name']}\n{test['message']}")
        assert reporter.processed == []
    assert total < document["max_score"]
    assert "zero-width joiner" in summary.read_text()
    assert "zero-width joiner" not in _outside_code_blocks(summary.read_text())


def _outside_code_blocks(markdown: str) -> str:
    outside, fence = [], ""
    for line in markdown.splitlines():
        if fence:
            if line == fence:
                fence = ""
        elif line.startswith("```"):
            fence = "`" * (len(line) - len(line.lstrip("`")))
        else:
            outside.append(line)
    return "\n".join(outside)


HIDDEN_CHECKS = """\
lab: 01-tcp-hello
checks:
  - id: secret-xyzzy
    title: Secret XYZZY greeting
    kind: server_sends
    expect: "Hello, Client!"
    points: 3
"""


@pytest.mark.docker
def test_hidden_checks_fetched_by_the_workflow_count_by_their_points_alone(
    installed: Installed, tmp_path: Path
) -> None:
    student = _student_repository(tmp_path)
    log, output, summary = _run_steps(installed, student, tmp_path, HIDDEN_CHECKS)
    assert not (student / ".socketlab-hidden").exists()  # out of the submission first
    document = _reporter_input(output)
    for text in (log, summary.read_text(), json.dumps(document)):
        assert "xyzzy" not in text.lower()
    (hidden,) = [test for test in document["tests"] if test["test_code"] == "hidden"]
    assert hidden["name"] == "1 hidden check(s)" and hidden["score"] == 3
    assert document["max_score"] == 18
    assert "Total: 18 / 18" in log


@pytest.mark.docker
def test_hidden_checks_a_student_commits_count_for_nothing(
    installed: Installed, tmp_path: Path
) -> None:
    """Only the private repository's file counts: a student's own .socketlab-hidden (here a
    check worth 100 points that any server passes) is removed before grading."""
    student = _student_repository(tmp_path)
    (student / ".socketlab-hidden").mkdir()
    (student / ".socketlab-hidden" / "01-tcp-hello.yaml").write_text(
        HIDDEN_CHECKS.replace("points: 3", "points: 100")
    )
    log, output, _ = _run_steps(installed, student, tmp_path)
    document = _reporter_input(output)
    assert document["max_score"] == 15 and "hidden" not in json.dumps(document)
    assert "Total: 15 / 15" in log


def test_ci_takes_only_a_lab_socketlab_ships_never_one_from_the_students_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A student's repository holding labs/<id>/spec.yaml (and a conftest.py beside it)
    would grade by the student's own checks, and run their code in the grader."""
    forged = tmp_path / "labs" / "01-tcp-hello"
    forged.mkdir(parents=True)
    (forged / "spec.yaml").write_text("id: 01-tcp-hello\ntitle: all points\nchecks: []\n")
    monkeypatch.chdir(tmp_path)
    assert find_lab("01-tcp-hello") == forged / "spec.yaml"  # check and grade: the user's own
    shipped = find_lab("01-tcp-hello", shipped_only=True)
    assert shipped != forged / "spec.yaml" and shipped.parent.name == "01-tcp-hello"
    for name in ("labs/01-tcp-hello", str(forged), "../01-tcp-hello", "."):
        with pytest.raises(LabNotFoundError, match="among the labs socketlab ships"):
            find_lab(name, shipped_only=True)
