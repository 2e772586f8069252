"""Grading needs no file system shared with the engine: socketlab grades from inside a container.

The grader runs in a container of the runtime image with its own /tmp (a tmpfs), the
repository mounted read-only at a path the engine's machine does not have, the test's
Python packages mounted beside it, and the engine's socket -- as with DOCKER_HOST naming
another machine, none of the grader's paths exists where the engine runs, so a bind mount of
any of them would give its containers an empty directory. The three labs' solutions and
starters are graded there; each solution must get full marks, and each starter the points,
check by check, that it gets natively, graded at the same time.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import sys
import sysconfig
import threading
from pathlib import Path
from typing import Any

import docker.errors
import pytest
import requests.exceptions

from grader.sandbox import image, labels
from tests.conftest import socketlab, solution_name, starter_name
from tests.submissions import REPOSITORY

pytestmark = pytest.mark.docker

LABS = ("01-tcp-hello", "02-tcp-echo", "03-udp-ping")
SOURCE_MOUNT = "/opt/socketlab-under-test"
PACKAGES_MOUNT = "/opt/socketlab-packages"
GRADING_TIMEOUT_S = 900
ROLE = "remote-grader"
GRADEBOOK_START = "GRADEBOOK "


def engine_socket() -> Path:
    """The engine's unix socket on this machine; the test fails for any other DOCKER_HOST."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        pytest.fail(f"this test mounts the engine's unix socket; DOCKER_HOST is {host}")
    return Path(host.removeprefix("unix://"))


def gradebook_rows(text: str) -> dict[str, dict[str, str]]:
    """gradebook.csv's rows by submission name: status, score and each check's points."""
    return {row["submission"]: row for row in csv.DictReader(io.StringIO(text))}


def grading_script() -> str:
    """Grades each lab's solution and starter into /tmp, then prints each gradebook."""
    lines = ["set -e", "mkdir -p /tmp/out"]
    for lab in LABS:
        lines += [
            f"python3 -m grader.cli grade {lab} solutions/{lab} labs/{lab} --out /tmp/out/{lab}"
            f" > /tmp/{lab}.log 2>&1 || {{ cat /tmp/{lab}.log; exit 1; }}",
            f"echo '{GRADEBOOK_START}{lab}'",
            f"cat /tmp/out/{lab}/gradebook.csv",
        ]
    return "\n".join(lines)


def gradebooks_in(output: str) -> dict[str, str]:
    """The gradebooks grading_script() printed, by lab."""
    books: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if line.startswith(GRADEBOOK_START):
            current = books.setdefault(line.removeprefix(GRADEBOOK_START), [])
        elif current is not None:
            current.append(line)
    return {lab: "\n".join(lines) + "\n" for lab, lines in books.items()}


def python_version_of(client: Any, runtime: str) -> str:
    output: bytes = client.containers.run(
        runtime,
        ["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        network_mode="none",
        labels={**labels.RunLabels.new().as_dict(), "socketlab.role": ROLE},
        remove=True,
    )
    return output.decode().strip()


def grade_in_a_container(client: Any, runtime: str) -> tuple[dict[str, str], str]:
    """The gradebooks of a grading inside a container, by lab; and the grader's hostname."""
    socket_path = engine_socket()
    run = labels.RunLabels.new()
    hostname = f"socketlab-remote-{run.run_id}"
    packages = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    mounts = {str(REPOSITORY): {"bind": SOURCE_MOUNT, "mode": "ro"}}
    python_path = [SOURCE_MOUNT]
    for index, directory in enumerate(packages):
        mounts[directory] = {"bind": f"{PACKAGES_MOUNT}-{index}", "mode": "ro"}
        python_path.append(f"{PACKAGES_MOUNT}-{index}")
    mounts[str(socket_path)] = {"bind": "/var/run/docker.sock", "mode": "rw"}
    container = client.containers.create(
        runtime,
        ["sh", "-c", grading_script()],
        hostname=hostname,
        user=f"{os.getuid()}:{os.getgid()}",
        group_add=[str(socket_path.stat().st_gid)],
        working_dir=SOURCE_MOUNT,
        environment={
            "PYTHONPATH": ":".join(python_path),
            "PYTHONDONTWRITEBYTECODE": "1",
            "HOME": "/tmp",
            "COLUMNS": "200",
            "DOCKER_HOST": "unix:///var/run/docker.sock",
        },
        volumes=mounts,
        read_only=True,
        tmpfs={"/tmp": "size=256m,mode=1777"},
        network_mode="none",  # the grader reaches the engine through the socket alone
        labels={**run.as_dict(), "socketlab.role": ROLE},
    )
    try:
        container.start()
        try:
            status = container.wait(timeout=GRADING_TIMEOUT_S)
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            pytest.fail(f"grading inside a container took more than {GRADING_TIMEOUT_S} s")
        output = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
        assert status["StatusCode"] == 0, output[-5000:]
        return gradebooks_in(output), hostname
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


def left_by(client: Any, hostname: str) -> list[Any]:
    """What socketlab processes on the host named `hostname` made that still exists."""
    filters = {"label": [f"{labels.MANAGED}=1", f"{labels.OWNER_HOST}={hostname}"]}
    return [
        *client.containers.list(all=True, filters=filters),
        *client.networks.list(filters=filters),
        *client.volumes.list(filters=filters),
    ]


def grade_starters_natively(out: Path, gradebooks: dict[str, str], errors: list[str]) -> None:
    """Each lab's starter graded here, its gradebook by lab (the one row is named after it)."""
    for lab in LABS:
        done = socketlab("grade", lab, f"labs/{lab}", "--out", str(out / lab))
        if done.returncode != 0:
            errors.append(f"{lab}: {done.stdout[-2000:]}{done.stderr[-3000:]}")
            return
        gradebooks[lab] = (out / lab / "gradebook.csv").read_text()


def test_solutions_and_starters_grade_from_a_container_as_they_do_natively(
    docker_ready: Any, tmp_path: Path
) -> None:
    client = docker_ready
    runtime = image.require_image(client)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert python_version_of(client, runtime) == version, (
        f"the runtime image's python3 must be {version}, the tests' own, to use their packages"
    )
    native: dict[str, str] = {}
    native_errors: list[str] = []
    natively = threading.Thread(
        target=grade_starters_natively, args=(tmp_path, native, native_errors)
    )
    natively.start()
    try:
        remote, hostname = grade_in_a_container(client, runtime)
    finally:
        natively.join()
    assert native_errors == []
    assert left_by(client, hostname) == [], "the grader in the container left resources"
    for lab in LABS:
        inside = gradebook_rows(remote[lab])
        # The same folder name twice: each is named after its parent folder.
        assert set(inside) == {solution_name(lab), starter_name(lab)}, remote[lab]
        solution, starter = inside[solution_name(lab)], inside[starter_name(lab)]
        assert (solution["status"], solution["score"]) == ("graded", solution["max_score"])
        assert starter["status"] == "graded"
        # Every column but the name and the path (the container's /src, this machine's).
        native_starter = gradebook_rows(native[lab])[lab]
        apart = ("submission", "path")
        assert {k: v for k, v in starter.items() if k not in apart} == {
            k: v for k, v in native_starter.items() if k not in apart
        }, f"{lab}: in a container\n{remote[lab]}natively\n{native[lab]}"
