"""The installable package: the wheel carries the labs, and a pip-installed socketlab grades a
student's two files from a folder that has nothing else (issue 10, "The package")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from setuptools import find_packages

from tests.submissions import REPOSITORY

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


def _lab_files_in(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {n for n in archive.namelist() if n.startswith("grader/lab_files/")}


def test_a_wheel_built_from_a_git_reference_carries_every_lab(tmp_path: Path) -> None:
    """`pip install git+…@ref` builds from what the reference holds: the labs come along."""
    wheel = _wheel(f"git+file://{REPOSITORY}", tmp_path)
    expected = {f"grader/lab_files/{lab}/{name}" for lab in LABS for name in LAB_FILES}
    assert _lab_files_in(wheel) == expected


@pytest.mark.docker
def test_a_pip_installed_socketlab_grades_two_files_outside_the_repository(
    tmp_path: Path,
) -> None:
    wheel = _wheel(str(REPOSITORY), tmp_path)
    assert len(_lab_files_in(wheel)) == len(LABS) * len(LAB_FILES)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([venv / "bin" / "pip", "install", "--quiet", str(wheel)], check=True)
    student = tmp_path / "student-repository"
    student.mkdir()
    for name in ("server.py", "client.py"):
        shutil.copy(REPOSITORY / "solutions" / "01-tcp-hello" / name, student / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    socketlab = str(venv / "bin" / "socketlab")

    listed = subprocess.run(
        [socketlab, "labs"], cwd=student, env=env, capture_output=True, text=True, check=False
    )
    assert listed.returncode == 0, listed.stderr
    for lab in LABS:
        assert lab in listed.stdout
    assert "TCP hello: one greeting over one connection" in listed.stdout
    # The labs come from the installed package, not from this checkout.
    assert str(REPOSITORY) not in listed.stdout
    assert "site-packages" in listed.stdout

    checked = subprocess.run(
        [socketlab, "check", "01-tcp-hello", "--submission", "."],
        cwd=student,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Total: 15 / 15" in checked.stdout, checked.stdout

    out = tmp_path / "out"
    graded = subprocess.run(
        [socketlab, "grade", "01-tcp-hello", str(student), "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert graded.returncode == 0, graded.stdout + graded.stderr
    (results,) = out.glob("*/results.json")
    assert json.loads(results.read_text())["score"] == 15
