"""Each lab's compose file runs the solution by hand, with docker-compose or docker compose."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from grader import __version__
from grader.sandbox.image import runtime_image
from tests.submissions import REPOSITORY

COMPOSE_FILES = sorted((REPOSITORY / "compose").glob("*.yaml"))
EXPECTED_OUTPUT = {
    "01-tcp-hello": "Received from server: Hello, Client!",
    "02-tcp-echo": "hello, echo",
    "03-udp-ping": "4 packets transmitted, 4 received, 0.0% packet loss",
}


def compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return ["docker", "compose"]


def test_every_lab_has_a_compose_file() -> None:
    labs = {path.name for path in (REPOSITORY / "labs").iterdir() if path.is_dir()}
    assert {path.stem for path in COMPOSE_FILES} == labs


@pytest.mark.parametrize("compose_file", COMPOSE_FILES, ids=lambda p: p.stem)
def test_compose_file_suits_both_compose_tools_and_stays_internal(compose_file: Path) -> None:
    document = yaml.safe_load(compose_file.read_text())
    assert "version" not in document and "name" not in document
    assert all(network.get("internal") for network in document["networks"].values())
    assert f"socketlab-runtime:{__version__}" in compose_file.read_text()


@pytest.mark.docker
@pytest.mark.parametrize("compose_file", COMPOSE_FILES, ids=lambda p: p.stem)
def test_compose_runs_a_submission_named_relative_to_where_the_user_stands(
    compose_file: Path, tmp_path: Path
) -> None:
    lab = compose_file.stem
    shutil.copytree(REPOSITORY / "solutions" / lab, tmp_path / "mywork")
    project = f"socketlab-test-{uuid.uuid4().hex[:8]}"
    base = [*compose_command(), "-p", project, "-f", str(compose_file)]
    env = {
        **os.environ,
        "PWD": str(tmp_path),  # what a shell standing in tmp_path exports
        "SUBMISSION": "mywork",
        "SOCKETLAB_RUNTIME_IMAGE": runtime_image(),
    }
    try:
        done = subprocess.run(
            [*base, "up", "--abort-on-container-exit", "--exit-code-from", "client"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert EXPECTED_OUTPUT[lab] in done.stdout
    finally:
        subprocess.run(
            [*base, "down", "-v"], capture_output=True, cwd=tmp_path, env=env, timeout=120,
            check=False,
        )  # fmt: skip


def test_each_labs_readme_runs_its_compose_file_under_a_project_name_of_its_own() -> None:
    for compose_file in COMPOSE_FILES:
        lab = compose_file.stem
        readme = (REPOSITORY / "labs" / lab / "README.md").read_text()
        assert f"docker-compose -p socketlab-{lab} -f compose/{lab}.yaml up" in readme
        assert "SUBMISSION=" in readme
