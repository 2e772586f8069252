"""GitHub Actions and Classroom outputs: the reporter's points, the summary, a log with no
command a student's program printed (issue 10, "GitHub Classroom and Actions")."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grader.checks.base import Verdict
from grader.reporting.github import (
    classroom_document,
    classroom_result,
    commands_stopped,
    neutralised,
    step_summary,
)
from grader.results import CheckResult, SubmissionResult
from tests.actions_runner import REGISTERED, Runner, parse
from tests.submissions import REPOSITORY

WORKFLOWS = (
    REPOSITORY / ".github" / "classroom" / "autograding.yml",
    REPOSITORY / ".github" / "workflows" / "ci.yml",
)

# Every form of command a program could print, each also indented, after other text, in a
# repr, split by a carriage return, and with characters a culture-aware match ignores.
COMMANDS = [
    "::error::forged",
    "::notice title=Autograding report::Points 15/15",
    "::stop-commands::x",
    "::ADD-MASK::secret",
    "::set-output name=result::e30=",
    "::warning file=server.py,line=1::w",
    "##[error]old form",
    "##[set-output name=result;]e30=",
    "##[group]g",
]
VARIANTS = [
    "{c}",
    "   {c}",
    "\t{c}",
    "\u00a0\u3000{c}",
    "text before {c}",
    "x\r{c}",
    "x\r\n{c}",
    "x\x0b{c}",
    "\u200b{c}",
    ":\u200b{c}",
    "#\u034f#[error]joined",
    "#\ufe0f#[error]selector",
    ":\u200d:error::zero-width joiner",
    "#\u0640#[error]tatweel",
    ":\ufe73:error::tail fragment",
    "#\u0903#[error]spacing mark",
    "received: {c!r}",
    "received: b'\\n{c}'",
]
HOSTILE = [variant.format(c=command) for command in COMMANDS for variant in VARIANTS]


def _commands_in(text: str) -> list[tuple[str, str]]:
    runner = Runner()
    runner.feed(text)
    return runner.processed


def test_the_emulated_runner_reads_each_form_unguarded() -> None:
    """The test's parser does find these commands when nothing guards the log."""
    found = [line for line in HOSTILE if _commands_in(line)]
    assert len(found) > len(HOSTILE) // 2
    assert parse("  ::error::x", REGISTERED) == ("error", "x")
    assert parse("a ##[warning]b", REGISTERED) == ("warning", "b")


@pytest.mark.parametrize("line", HOSTILE)
def test_neutralised_text_holds_no_command(line: str) -> None:
    assert _commands_in(neutralised(line)) == []
    assert _commands_in(neutralised("\n".join([line, line]))) == []


def test_neutralised_keeps_ordinary_text() -> None:
    text = "received: b'Hello, Client!'\n  expected: b'Hi'\n\tlikely cause: é, ü, 日本"
    assert neutralised(text) == text


def test_a_log_written_through_commands_stopped_runs_only_its_own_pair() -> None:
    out, err = io.StringIO(), io.StringIO()
    with commands_stopped(out, err) as (safe_out, safe_err):
        for line in HOSTILE:
            safe_out.write(line + "\n")
            safe_err.write(line[:3])  # split over writes, and a last line with no newline
            safe_err.write(line[3:] + "\n")
        safe_out.write(":")
        safe_out.write(":error::split")
    processed = _commands_in(out.getvalue())
    assert [name for name, _ in processed] == ["stop-commands", processed[1][0]]
    assert processed[1][0] == processed[0][1]  # resumed by its own token
    # Each stream alone, without the stop, is safe too (the runner may interleave the pipes).
    assert _commands_in(out.getvalue().split("\n", 1)[1].rsplit("::", 2)[0]) == []
    assert _commands_in(err.getvalue()) == []


def _check(
    check_id: str, points: float, max_points: float, *, hidden: bool = False, text: str = ""
) -> CheckResult:
    passed = points == max_points
    return CheckResult(
        check_id=check_id,
        title=f"title of {check_id}",
        kind="server_sends",
        max_points=max_points,
        points=points,
        status="passed" if passed else "failed",
        hidden=hidden,
        verdict=Verdict(passed=passed, summary="summary", received=text or None),
    )


WEIGHTED = SubmissionResult(
    "01-tcp-hello",
    Path("student"),
    (
        _check("a", 0.1, 0.1),
        _check("b", 0.0, 0.2, text="::error::forged ``` </details> | <b>"),
        _check("secret-one", 0.7, 0.7, hidden=True),
        _check("c", 1.5, 1.5),
        _check("secret-two", 0.0, 0.3, hidden=True, text="hidden feedback"),
    ),
)


def _as_the_reporter_adds(document: dict[str, object]) -> tuple[float, float]:
    total = 0.0
    for test in document["tests"]:  # type: ignore[attr-defined]
        total += test["score"]
    return total, document["max_score"]  # type: ignore[return-value]


def test_classroom_result_is_base64_json_whose_scores_sum_to_the_total() -> None:
    document = json.loads(base64.b64decode(classroom_result(WEIGHTED)))
    assert document == classroom_document(WEIGHTED)
    assert document["version"] == 1 and document["status"] == "pass"
    total, max_score = _as_the_reporter_adds(document)
    assert total == pytest.approx(WEIGHTED.score, abs=1e-12)
    assert max_score == pytest.approx(WEIGHTED.max_score, abs=1e-12)
    names = [test["name"] for test in document["tests"]]
    assert names == ["title of a", "title of b", "title of c", "2 hidden check(s)"]
    assert [test["status"] for test in document["tests"]] == ["pass", "fail", "pass", "fail"]


def test_hidden_checks_leave_only_their_points() -> None:
    for text in (
        json.dumps(classroom_document(WEIGHTED)),
        step_summary(WEIGHTED),
    ):
        assert "secret" not in text and "hidden feedback" not in text
    assert "0.7 / 1" in step_summary(WEIGHTED)


def test_the_reporter_prints_no_command_from_names_or_messages() -> None:
    document = classroom_document(WEIGHTED)
    for test in document["tests"]:
        assert _commands_in(test["name"]) == []
        assert _commands_in(test["message"]) == []


def test_the_step_summary_keeps_the_programs_text_inside_its_code_block() -> None:
    summary = step_summary(WEIGHTED)
    assert "| ❌ | title of b (`b`) | 0 / 0.2 |" in summary
    block = summary.split("````text\n", 1)[1].split("\n````\n", 1)[0]  # fence longer than ```
    assert "```" in block and "</details>" in block
    assert summary.count("</details>") == 2  # the program's own one and the real one


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_workflows_validate_against_the_github_workflow_schema(workflow: Path) -> None:
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("check-jsonschema")),
            "--builtin-schema",
            "vendor.github-workflows",
            str(workflow),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_classroom_workflow_feeds_the_reporter_from_one_grading() -> None:
    workflow = yaml.safe_load((WORKFLOWS[0]).read_text())
    steps = workflow["jobs"]["run-autograding-tests"]["steps"]
    runs = [step["run"] for step in steps if "run" in step]
    assert sum("socketlab ci" in run for run in runs) == 1
    assert not any("socketlab check" in run or "socketlab grade" in run for run in runs)
    (grading,) = [step for step in steps if "socketlab ci" in step.get("run", "")]
    (reporter,) = [step for step in steps if "grading-reporter" in step.get("uses", "")]
    runner = reporter["with"]["runners"]
    assert reporter["env"][f"{runner.upper()}_RESULTS"] == (
        "${{ steps." + grading["id"] + ".outputs.result }}"
    )
    assert "pip install socketlab" not in WORKFLOWS[0].read_text()
