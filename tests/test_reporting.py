"""Reporters format results; an unfinished grading is never written as a zero."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from xml.etree import ElementTree

import pytest
import xmlschema
from rich.console import Console

from grader.checks.base import Verdict
from grader.reporting.feedback import bounded_lines, feedback_text
from grader.reporting.gradebook import GradebookRow, write_gradebook
from grader.reporting.gradescope import results_json, write_results_json
from grader.reporting.junit import write_junit
from grader.reporting.names import printable
from grader.reporting.terminal import counts, feedback_markdown, print_report
from grader.results import CheckResult, SubmissionResult
from grader.spec.loader import load_spec
from tests.junit_schema import assert_valid_junit
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


JUDGE_ERROR = CheckResult(
    check_id="server-greeting",
    title="greeting",
    kind="server_sends",
    max_points=2,
    points=0,
    status="error",
    hidden=False,
    error="the grader's code for this check failed (ZeroDivisionError)",
    error_detail='Traceback (most recent call last):\n  File "judge.py"\nZeroDivisionError',
)
WITH_ERROR = SubmissionResult("01-tcp-hello", Path("carol"), (PASSED, JUDGE_ERROR))


def huge_verdict_result() -> CheckResult:
    flood = "x" * 1_000_000
    verdict = Verdict(
        passed=False,
        summary="the server sent 1 MB " + flood,
        expected="b'Hello, Client!'",
        received=repr(flood.encode()),
        cause="The server floods.",
        details=tuple(f"datagram {n}: {flood[:2000]}" for n in range(5_000)),
        diagram=tuple(f"{n:6d} packet" for n in range(20_000)),
    )
    return CheckResult("flood", "flood", "server_sends", 2, 0, "failed", False, verdict)


def test_feedback_of_a_huge_verdict_is_a_few_kilobytes_and_says_what_was_left_out() -> None:
    text = feedback_text(huge_verdict_result())
    assert len(text) < 5000
    assert "expected: b'Hello, Client!'" in text
    assert "characters left out" in text
    assert "likely cause: The server floods." in text


def test_results_json_stays_well_under_a_megabyte_whatever_was_printed(tmp_path: Path) -> None:
    checks = tuple(huge_verdict_result() for _ in range(40))
    write_results_json(SubmissionResult("lab", Path("x"), checks), tmp_path / "results.json")
    assert (tmp_path / "results.json").stat().st_size < 512 * 1024
    assert len(json.loads((tmp_path / "results.json").read_text())["tests"]) == 40


def test_long_lists_keep_their_start_and_end_and_count_what_was_left_out() -> None:
    lines = bounded_lines([f"line {n}" for n in range(1000)])
    assert lines[0] == "line 0" and lines[-1] == "line 999"
    assert any("lines left out" in line for line in lines)
    assert len(lines) <= 60


def test_a_judge_error_is_an_error_column_and_a_status_never_a_zero(tmp_path: Path) -> None:
    write_gradebook(LAB, [GradebookRow("carol", WITH_ERROR)], tmp_path / "gradebook.csv")
    with (tmp_path / "gradebook.csv").open() as f:
        row = next(csv.DictReader(f))
    assert row["server-greeting"] == "error"
    assert row["status"] == "graded; grader error in: server-greeting"


def test_results_json_keeps_the_traceback_for_the_instructor_only() -> None:
    data = results_json(WITH_ERROR)
    assert data["stdout_visibility"] == "hidden"
    assert "ZeroDivisionError" in data["stdout"]
    assert "Traceback" not in data["tests"][1]["output"]
    assert "not graded: the grader's code for this check failed" in data["tests"][1]["output"]
    assert data["tests"][1]["status"] == "failed"


def test_terminal_counts_grader_errors_apart_from_failures() -> None:
    assert counts(RESULT) == "2 / 4 (1 failed)"
    assert counts(WITH_ERROR) == "2 / 4 (1 grader error)"
    console = Console(record=True, width=200)
    print_report(console, WITH_ERROR)
    assert "could not be judged because of a grader error" in console.export_text()


NOT_UTF8 = os.fsdecode(b"stud\xe9nt")


def test_a_folder_name_that_is_not_utf8_is_written_with_backslash_escapes(
    tmp_path: Path,
) -> None:
    rows = [
        GradebookRow(NOT_UTF8, SubmissionResult("01-tcp-hello", Path(NOT_UTF8), (PASSED,))),
        GradebookRow(NOT_UTF8 + "-2", None, "the batch stopped: Docker \udcff lost"),
    ]
    write_gradebook(LAB, rows, tmp_path / "gradebook.csv")
    text = (tmp_path / "gradebook.csv").read_text(encoding="utf-8")
    assert "stud\\xe9nt," in text and "stud\\xe9nt-2," in text
    assert printable(NOT_UTF8) == "stud\\xe9nt"
    console = Console(record=True, width=200, file=io.StringIO())
    print_report(console, SubmissionResult("01-tcp-hello", Path("/tmp") / NOT_UTF8, (PASSED,)))
    assert "stud\\xe9nt" in console.export_text()


def test_the_gradebook_is_replaced_whole_never_written_in_place(tmp_path: Path) -> None:
    path = tmp_path / "gradebook.csv"
    write_gradebook(LAB, [GradebookRow("alice", RESULT)], path)
    before = path.stat().st_ino
    write_gradebook(LAB, [GradebookRow("alice", RESULT), GradebookRow("bob", RESULT)], path)
    assert path.stat().st_ino != before  # a new file renamed over the old one
    assert [p.name for p in tmp_path.iterdir()] == ["gradebook.csv"]


def _junit(result: SubmissionResult, tmp_path: Path) -> str:
    write_junit(result, tmp_path / "junit.xml", elapsed_s=12.5)
    return (tmp_path / "junit.xml").read_text(encoding="utf-8")


def test_junit_xml_follows_the_junit_schema_with_points_on_the_suite(tmp_path: Path) -> None:
    text = _junit(RESULT, tmp_path)
    assert_valid_junit(text)
    suites = [ElementTree.fromstring(text)]
    assert [(suite.tag, suite.get("name")) for suite in suites] == [("testsuite", "01-tcp-hello")]
    properties = {p.get("name"): p.get("value") for p in suites[0].iter("property")}
    assert properties == {
        "submission": "alice",
        "score": "2",
        "max_score": "4",
        "points:server-listens": "2/2",
        "points:server-greeting": "0/2",
    }
    cases = suites[0].findall("testcase")
    assert {case.get("classname") for case in cases} == {"01-tcp-hello"}
    failure = cases[1].find("failure")
    assert failure is not None and "received: b'Hello, Client!\\n'" in (failure.text or "")


def test_junit_xml_keeps_a_grader_error_and_text_xml_cannot_hold(tmp_path: Path) -> None:
    control = FAILED.__class__(
        **{
            **FAILED.__dict__,
            "verdict": Verdict(passed=False, summary="sent \x00\x1b[31m", received="\x07"),
        }
    )
    text = _junit(SubmissionResult("01-tcp-hello", Path("x"), (control, JUDGE_ERROR)), tmp_path)
    assert_valid_junit(text)
    assert "\\x00" in text and "\\x1b" in text
    assert "ZeroDivisionError" in text or (JUDGE_ERROR.error_detail or "") in text


def test_the_schema_rules_refuse_points_inside_a_testcase() -> None:
    """What junit.xml used to be: properties in a testcase break the schema."""
    old = (
        '<testsuites><testsuite name="spec.yaml" tests="1"><testcase name="a"'
        ' classname="spec.yaml"><properties><property name="points" value="2"/>'
        "</properties></testcase></testsuite></testsuites>"
    )
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        assert_valid_junit(old)


def test_results_json_is_markdown_with_feedback_in_code_blocks() -> None:
    tricky = FAILED.__class__(
        **{
            **FAILED.__dict__,
            "verdict": Verdict(
                passed=False,
                summary="the server sent other bytes",
                received="b'``` <script>alert(1)</script> **bold**'",
                diagram=("   #  time    direction", "   1  0.000  client → server  SYN"),
            ),
        }
    )
    data = results_json(SubmissionResult("01-tcp-hello", Path("x"), (PASSED, tricky)), 12.6)
    assert data["output_format"] == data["test_output_format"] == "md"
    assert data["execution_time"] == 13
    assert data["output"].startswith("**2 / 4 points**: 1 of 2 checks passed.")
    output = data["tests"][1]["output"]
    # A fence longer than the program's own backticks: its text stays inside, columns too.
    assert output.startswith("````text\n") and output.endswith("\n````")
    assert "<script>" in output and "   1  0.000  client → server  SYN" in output
    assert data["tests"][0]["output"].startswith("```text\n")


def test_gradebook_says_where_each_submission_is_and_which_files_it_lacked(
    tmp_path: Path,
) -> None:
    lacking = SubmissionResult("01-tcp-hello", Path("/class/carol"), (FAILED,), (), ("client.py",))
    rows = [
        GradebookRow("carol", lacking, path=Path("/class/carol")),
        GradebookRow("dan", None, "Docker stopped", Path("/class/dan")),
    ]
    write_gradebook(LAB, rows, tmp_path / "gradebook.csv")
    with (tmp_path / "gradebook.csv").open() as f:
        table = list(csv.DictReader(f))
    assert [row["path"] for row in table] == ["/class/carol", "/class/dan"]
    assert table[0]["status"] == "missing files: client.py" and table[0]["score"] == "0"
    assert table[1]["status"] == "not graded: Docker stopped" and table[1]["score"] == ""


def test_feedback_md_has_the_words_of_the_report_and_hides_hidden_checks() -> None:
    console = Console(record=True, width=100)
    print_report(console, RESULT)
    markdown = feedback_markdown(RESULT)
    assert markdown.startswith("# 01-tcp-hello: 2 / 4 points\n\n```text\n")
    for line in console.export_text().splitlines():
        if "listens" not in line:  # PASSED is a hidden check here
            assert line.rstrip() in markdown
    assert "listens" not in markdown and "1 hidden check(s)" in markdown


def test_no_gradebook_cell_is_read_as_a_spreadsheet_formula(tmp_path: Path) -> None:
    hostile = '=HYPERLINK("http://example.invalid","click")'
    rows = [
        GradebookRow(hostile, RESULT, path=Path("/class") / hostile),
        GradebookRow("@SUM(A1)", None, "+1 problem", Path("/class/x")),
        GradebookRow("\uff1dcmd", RESULT, path=Path("/class/y")),
    ]
    write_gradebook(LAB, rows, tmp_path / "gradebook.csv")
    with (tmp_path / "gradebook.csv").open() as f:
        table = list(csv.reader(f))[1:]
    assert [row[0] for row in table] == ["'" + hostile, "'@SUM(A1)", "'\uff1dcmd"]
    assert table[0][3] == "2"  # scores stay numbers
    for row in table:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row)


def test_feedback_md_keeps_long_lines_whole_and_results_json_names_missing_files() -> None:
    long_title = FAILED.__class__(**{**FAILED.__dict__, "title": "word " * 40})
    markdown = feedback_markdown(SubmissionResult("01-tcp-hello", Path("x"), (long_title,)))
    assert ("word " * 40).strip() in markdown
    lacking = SubmissionResult("01-tcp-hello", Path("x"), (FAILED,), (), ("client.py",))
    assert "Not found in the submission: client.py" in results_json(lacking)["output"]


def test_prairielearn_message_is_plain_text() -> None:
    # PrairieLearn shows the message as it is, in a <pre>: no markdown marks or fences.
    from grader.reporting.prairielearn import results_json as prairielearn_json

    result = SubmissionResult(
        "01-tcp-hello", Path("x"), (PASSED, FAILED), notes=("client.py took 3 s to start",)
    )
    message = prairielearn_json(result)["message"]
    assert message.startswith("2 / 4 points: 1 of 2 checks passed.")
    assert "client.py took 3 s to start" in message
    assert "**" not in message and "```" not in message
