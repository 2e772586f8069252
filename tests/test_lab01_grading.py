"""Lab 01 graded for real: the solution, the starter and one broken submission per mistake."""

from __future__ import annotations

from typing import Any

import pytest

from grader.spec.loader import load_spec
from tests.conftest import GradedBatch, solution_name, starter_name
from tests.junit_schema import assert_valid_junit
from tests.submissions import CORE, REPOSITORY, Broken

pytestmark = pytest.mark.docker

LAB01_SPEC = load_spec(REPOSITORY / "labs" / "01-tcp-hello" / "spec.yaml")


def test_grading_the_batch_exits_zero_whatever_the_scores(lab01_batch: GradedBatch) -> None:
    assert lab01_batch.process.returncode == 0, lab01_batch.process.stderr


def test_solution_scores_full_marks(lab01_batch: GradedBatch) -> None:
    results = lab01_batch.results(solution_name("01-tcp-hello"))
    assert lab01_batch.failed_checks(solution_name("01-tcp-hello")) == set()
    assert results["score"] == LAB01_SPEC.max_points


def test_starter_scores_less_and_its_feedback_teaches_the_fixes(lab01_batch: GradedBatch) -> None:
    starter = lab01_batch.results(starter_name("01-tcp-hello"))
    feedback = lab01_batch.feedback(starter_name("01-tcp-hello"))
    assert starter["score"] < LAB01_SPEC.max_points
    assert "0.0.0.0" in feedback
    assert "SERVER_HOST" in feedback
    assert "SERVER_PORT" in feedback


@pytest.mark.parametrize("broken", CORE["01-tcp-hello"], ids=lambda b: b.name)
def test_broken_submission_fails_exactly_its_checks(
    lab01_batch: GradedBatch, broken: Broken
) -> None:
    assert lab01_batch.failed_checks(broken.name) == set(broken.fails)
    feedback = lab01_batch.feedback(broken.name)
    for words in broken.mentions:
        assert words in feedback, f"feedback lacks {words!r}:\n{feedback}"


def test_gradebook_has_a_row_per_submission_and_a_column_per_check(
    lab01_batch: GradedBatch,
) -> None:
    rows = (lab01_batch.out / "gradebook.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert header[:5] == ["submission", "path", "status", "score", "max_score"]
    assert header[5:] == [check.id for check in LAB01_SPEC.checks]
    statuses = {row.split(",")[0]: row.split(",")[2] for row in rows[1:]}
    assert statuses["client-missing"] == "missing files: client.py"
    assert statuses[solution_name("01-tcp-hello")] == "graded"
    assert len(rows) == 1 + 2 + len(CORE["01-tcp-hello"])


def test_junit_report_follows_the_junit_schema_and_carries_points(
    lab01_batch: GradedBatch,
) -> None:
    for junit in lab01_batch.out.glob("*/junit.xml"):
        assert_valid_junit(junit.read_text())
    junit = (lab01_batch.out / solution_name("01-tcp-hello") / "junit.xml").read_text()
    assert '<property name="points:server-listens" value="2/2"' in junit
    assert '<testcase name="server-listens" classname="01-tcp-hello"' in junit
    feedback = (lab01_batch.out / starter_name("01-tcp-hello") / "feedback.md").read_text()
    assert "likely cause:" in feedback and "Total: " in feedback


def test_no_labelled_container_or_network_remains(
    lab01_batch: GradedBatch, docker_ready: Any
) -> None:
    assert lab01_batch.leftovers(docker_ready) == []


def test_a_resetting_server_loses_exactly_the_close_points_and_keeps_its_pcap(
    lab01_batch: GradedBatch,
) -> None:
    results = lab01_batch.results("server-resets-connection")
    close = next(check for check in LAB01_SPEC.checks if check.id == "server-close")
    assert results["score"] == LAB01_SPEC.max_points - close.points
    output = next(t["output"] for t in results["tests"] if t["name"].startswith("server-close"))
    rst_lines = [line for line in output.splitlines() if "<- abortive close" in line]
    assert len(rst_lines) == 1 and "RST" in rst_lines[0]
    pcap = lab01_batch.out / "server-resets-connection" / "captures" / "server-close.pcap"
    assert pcap.stat().st_size > 24, "the capture must hold packets"


def test_every_packet_check_keeps_its_capture(lab01_batch: GradedBatch) -> None:
    captures = lab01_batch.out / solution_name("01-tcp-hello") / "captures"
    assert {p.name for p in captures.glob("*.pcap")} == {
        "server-handshake.pcap",
        "server-greeting.pcap",
        "server-close.pcap",
        "client-greeting-in-pieces.pcap",
        "end-to-end.pcap",
    }
