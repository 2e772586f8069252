"""Reporters format results; an unfinished grading is never written as a zero."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from rich.console import Console

from grader.checks.base import Verdict
from grader.reporting.feedback import feedback_text
from grader.reporting.gradebook import GradebookRow, write_gradebook
from grader.reporting.gradescope import results_json, write_results_json
from grader.reporting.terminal import print_report
from grader.results import CheckResult, SubmissionResult
from grader.spec.loader import load_spec
from tests.submissions import REPOSITORY

LAB = load_spec(REPOSITORY / "labs" / "01-tcp-hello" / "spec.yaml")

FAILED = CheckResult(
    check_id="server-greeting",
    title="The server sends exactly 'Hello, Client!'",
    kind="server_sends",
    max_points=2,
    points=0,
    status="failed",
    hidden=False,
    verdict=Verdict(
        passed=False,
        summary="the server sent different bytes",
        expected="b'Hello, Client!'",
        received="b'Hello, Client!\\n'",
        cause="The server sends a line ending the protocol does not have.",
    ),
)
PASSED = CheckResult(
    check_id="server-listens",
    title="listens",
    kind="server_listens",
    max_points=2,
    points=2,
    status="passed",
    hidden=True,
    verdict=Verdict(passed=True, summary="listening"),
)
RESULT = SubmissionResult("01-tcp-hello", Path("alice"), (PASSED, FAILED))


def test_feedback_shows_expected_received_and_cause() -> None:
    text = feedback_text(FAILED)
    assert "expected: b'Hello, Client!'" in text
    assert "received: b'Hello, Client!\\n'" in text
    assert "likely cause:" in text


def test_results_json_follows_gradescope_schema(tmp_path: Path) -> None:
    write_results_json(RESULT, tmp_path / "results.json")
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["score"] == 2
    assert [t["status"] for t in data["tests"]] == ["passed", "failed"]
    assert data["tests"][0]["visibility"] == "after_published"
    assert data["tests"][1]["visibility"] == "visible"
    assert set(data["tests"][1]) == {
        "name",
        "number",
        "score",
        "max_score",
        "status",
        "output",
        "visibility",
    }
    assert results_json(RESULT)["tests"][1]["max_score"] == 2


def test_gradebook_leaves_scores_blank_when_a_submission_was_not_graded(tmp_path: Path) -> None:
    rows = [GradebookRow("alice", RESULT), GradebookRow("bob", None, "Docker stopped")]
    write_gradebook(LAB, rows, tmp_path / "gradebook.csv")
    with (tmp_path / "gradebook.csv").open() as f:
        table = list(csv.DictReader(f))
    assert table[0]["score"] == "2" and table[0]["server-greeting"] == "0"
    assert table[1]["status"] == "not graded: Docker stopped"
    assert table[1]["score"] == "" and table[1]["server-greeting"] == ""


def test_terminal_report_lists_checks_and_total() -> None:
    console = Console(record=True, width=120)
    print_report(console, RESULT)
    text = console.export_text()
    assert "✘ The server sends exactly 'Hello, Client!'" in text
    assert "Total: 2 / 4" in text
