"""Gradescope's zip and PrairieLearn's tests folder grade for real, in a container like theirs.

Each platform grades in a container of its own, as root with Docker's default capabilities,
without a Docker engine inside and (here) without a network. The test starts such a container
from the runtime image (which has python3 and tcpdump, as the platforms' images must), lays
out /autograder or /grade as the platform does, runs the platform's scripts, and reads the
results.json they wrote: the solution gets full marks, the starter the same verdict on every
check as the Docker backend gives it.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grader.sandbox import image, labels
from tests.conftest import GradedBatch, socketlab, starter_name
from tests.submissions import REPOSITORY

pytestmark = pytest.mark.docker

LABS = ("01-tcp-hello", "02-tcp-echo", "03-udp-ping")


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each lab's Gradescope zip and PrairieLearn question folder, made by the command line."""
    made: dict[str, Path] = {}
    folder = tmp_path_factory.mktemp("bundles")
    for lab in LABS:
        zipped = folder / f"{lab}.zip"
        done = socketlab("gradescope", lab, "--out", str(zipped))
        assert done.returncode == 0, done.stderr
        made[f"gradescope:{lab}"] = zipped
        question = folder / f"{lab}-question"
        done = socketlab("prairielearn", lab, "--out", str(question))
        assert done.returncode == 0, done.stderr
        made[f"prairielearn:{lab}"] = question
    return made


@pytest.fixture
def platform_container(docker_ready: Any) -> Iterator[Any]:
    """A root container with default capabilities, no network but loopback, no Docker socket."""
    container = docker_ready.containers.run(
        image.runtime_image(),
        ["sleep", "900"],
        detach=True,
        network_mode="none",
        labels={**labels.RunLabels.new().as_dict(), "socketlab.role": "platform-test"},
    )
    try:
        yield container
    finally:
        container.remove(force=True)


def put(container: Any, folder: str, files: dict[str, bytes], mode: int = 0o644) -> None:
    """Puts `files` ({relative path: bytes}) into `folder` of the container."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))
    container.exec_run(["mkdir", "-p", folder])
    assert container.put_archive(folder, archive.getvalue())


def run(container: Any, command: list[str]) -> str:
    exit_code, output = container.exec_run(command)
    text = output.decode("utf-8", "replace")
    assert exit_code == 0, text
    return text


def read_json(container: Any, path: str) -> dict[str, Any]:
    exit_code, output = container.exec_run(["cat", path])
    assert exit_code == 0, output
    return dict(json.loads(output))


def program_files(lab_folder: Path) -> dict[str, bytes]:
    return {name: (lab_folder / name).read_bytes() for name in ("server.py", "client.py")}


def gradescope_results(
    container: Any, zipped: Path, submission: dict[str, bytes]
) -> dict[str, Any]:
    """Lays out /autograder as Gradescope does, runs setup.sh and run_autograder."""
    put(container, "/autograder", {"autograder.zip": zipped.read_bytes()})
    run(
        container,
        ["python3", "-m", "zipfile", "-e", "/autograder/autograder.zip", "/autograder/source"],
    )
    put(container, "/autograder/submission", submission)
    run(container, ["mkdir", "-p", "/autograder/results"])
    run(container, ["bash", "/autograder/source/setup.sh"])
    run(container, ["cp", "/autograder/source/run_autograder", "/autograder/run_autograder"])
    run(container, ["bash", "/autograder/run_autograder"])
    return read_json(container, "/autograder/results/results.json")


def prairielearn_results(
    container: Any, question: Path, submission: dict[str, bytes]
) -> dict[str, Any]:
    """Lays out /grade as PrairieLearn does and runs the entrypoint its options name."""
    tests = {
        str(path.relative_to(question / "tests")): path.read_bytes()
        for path in (question / "tests").rglob("*")
        if path.is_file()
    }
    put(container, "/grade/tests", tests, mode=0o755)
    put(container, "/grade/student", submission)
    options = json.loads((question / "externalGradingOptions.json").read_text())
    run(container, [options["externalGradingOptions"]["entrypoint"]])
    return read_json(container, "/grade/results/results.json")


@pytest.mark.parametrize("lab", LABS)
def test_the_gradescope_zip_gives_the_solution_full_marks_without_docker(
    bundles: dict[str, Path], platform_container: Any, lab: str
) -> None:
    solution = program_files(REPOSITORY / "solutions" / lab)
    results = gradescope_results(platform_container, bundles[f"gradescope:{lab}"], solution)
    assert results["tests"], results.get("output")
    assert results["score"] == sum(test["max_score"] for test in results["tests"])


@pytest.mark.parametrize("lab", LABS)
def test_the_prairielearn_grader_gives_the_solution_full_marks_without_docker(
    bundles: dict[str, Path], platform_container: Any, lab: str
) -> None:
    solution = program_files(REPOSITORY / "solutions" / lab)
    results = prairielearn_results(platform_container, bundles[f"prairielearn:{lab}"], solution)
    assert results["gradable"] is True, results
    assert results["score"] == 1.0
    assert sum(test["points"] for test in results["tests"]) == sum(
        test["max_points"] for test in results["tests"]
    )


def assert_starter_judged_as_on_docker(
    bundles: dict[str, Path], container: Any, lab: str, on_docker_batch: GradedBatch
) -> None:
    """The same verdict on every check, with the same summary line: the same lesson."""
    starter = program_files(REPOSITORY / "labs" / lab)
    results = gradescope_results(container, bundles[f"gradescope:{lab}"], starter)
    on_docker = on_docker_batch.results(starter_name(lab))

    def verdicts(document: dict[str, Any]) -> dict[str, tuple[str, str]]:
        return {
            test["name"]: (test["status"], summary_line(test["output"]))
            for test in document["tests"]
        }

    assert verdicts(results) == verdicts(on_docker)
    assert results["score"] == on_docker["score"] < sum(t["max_score"] for t in results["tests"])


def test_the_gradescope_zip_judges_lab01s_starter_as_docker_does(
    bundles: dict[str, Path], platform_container: Any, lab01_batch: GradedBatch
) -> None:
    assert_starter_judged_as_on_docker(bundles, platform_container, "01-tcp-hello", lab01_batch)


def test_the_gradescope_zip_judges_lab02s_starter_as_docker_does(
    bundles: dict[str, Path], platform_container: Any, lab02_batch: GradedBatch
) -> None:
    assert_starter_judged_as_on_docker(bundles, platform_container, "02-tcp-echo", lab02_batch)


def test_the_gradescope_zip_judges_lab03s_starter_as_docker_does(
    bundles: dict[str, Path], platform_container: Any, lab03_batch: GradedBatch
) -> None:
    assert_starter_judged_as_on_docker(bundles, platform_container, "03-udp-ping", lab03_batch)


def summary_line(output: str) -> str:
    """A test's first line of feedback (inside its code block): what went wrong, with its
    numbers masked. A program's output holds SERVER_HOST, `server` on Docker and
    `127.0.0.2` here, so the byte counts it quotes differ by as much."""
    lines = [line for line in output.splitlines() if line and not line.startswith("```")]
    return re.sub(r"\d+", "N", lines[0]) if lines else ""


def test_a_bundle_that_cannot_grade_writes_a_results_json_that_says_so(
    bundles: dict[str, Path], platform_container: Any
) -> None:
    """No tcpdump in the image: the packet checks cannot run, and nothing is scored."""
    run(platform_container, ["rm", "-f", "/usr/bin/tcpdump", "/usr/sbin/tcpdump"])
    solution = program_files(REPOSITORY / "solutions" / "01-tcp-hello")
    question = bundles["prairielearn:01-tcp-hello"]
    results = prairielearn_results(platform_container, question, solution)
    assert results["gradable"] is False
    assert "needs root and tcpdump" in results["format_errors"][0]
