"""--roster: a class list mapped to submission folders, and the Canvas gradebook import file."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from grader.errors import SocketlabError
from grader.reporting.gradebook import GradebookRow
from grader.reporting.roster import CANVAS_COLUMNS, read_roster, write_canvas
from grader.results import CheckResult, SubmissionResult
from grader.spec.loader import load_spec
from tests.conftest import socketlab
from tests.submissions import REPOSITORY

LAB = load_spec(REPOSITORY / "labs" / "01-tcp-hello" / "spec.yaml")
# Canvas's own export columns, a byte-order mark as a spreadsheet saves it, and `folder`.
ROSTER = (
    "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,folder\n"
    "Alice Liddell,101,s1,alice,A,alice\n"
    "Bob Brown,102,s2,bob,A,bob-lab01\n"
    "Carol Chen,103,s3,carol,B,carol\n"
    "Dan Dare,104,s4,dan,B,dan\n"
)


def _result(score: float) -> SubmissionResult:
    check = CheckResult("c", "c", "server_sends", LAB.max_points, score, "passed", False)
    return SubmissionResult(LAB.id, Path("x"), (check,))


def test_canvas_csv_has_the_roster_in_its_order_and_never_a_zero_for_the_ungraded(
    tmp_path: Path,
) -> None:
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    students = read_roster(tmp_path / "roster.csv")
    rows = [
        GradebookRow("alice", _result(15), path=Path("/class/alice")),
        GradebookRow("b__bob-lab01", _result(7.5), path=Path("/late/b/bob-lab01")),
        GradebookRow("carol", None, "the batch stopped: Docker", Path("/class/carol")),
        GradebookRow("eve", _result(3), path=Path("/class/eve")),
    ]
    unnamed = write_canvas(LAB, students, rows, tmp_path / "canvas.csv")
    with (tmp_path / "canvas.csv").open(encoding="utf-8") as f:
        table = list(csv.reader(f))
    assert table[0] == [*CANVAS_COLUMNS, "01-tcp-hello"]
    assert table[1] == ["Points Possible", "", "", "", "", "15"]
    assert table[2:] == [
        ["Alice Liddell", "101", "s1", "alice", "A", "15"],
        ["Bob Brown", "102", "s2", "bob", "A", "7.5"],  # by its folder's name
        ["Carol Chen", "103", "s3", "carol", "B", ""],  # not graded: left as it is
        ["Dan Dare", "104", "s4", "dan", "B", ""],  # no submission
    ]
    assert unnamed == ["eve"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Student,ID\nAlice,1\n", "roster.csv:1: the roster needs the column(s) folder"),
        ("Student,folder\nAlice,alice\n", "roster.csv:1: the roster needs the column(s) one of"),
        ("Student,ID,folder\nAlice,1,alice\nAl,2,alice\n", "roster.csv:3: folder 'alice' is on"),
        ("Student,ID,folder\nAlice,1,\n", "roster.csv:2: no folder for 'Alice'"),
        ("Student,ID,folder\nAlice,,alice\n", "roster.csv:2: 'alice' has none of ID"),
    ],
)
def test_a_roster_it_cannot_use_is_refused_with_file_and_line(
    tmp_path: Path, text: str, words: str
) -> None:
    (tmp_path / "roster.csv").write_text(text)
    with pytest.raises(SocketlabError, match=words.replace("(", r"\(").replace(")", r"\)")):
        read_roster(tmp_path / "roster.csv")


def test_grade_refuses_a_bad_roster_before_anything_is_graded(tmp_path: Path) -> None:
    done = socketlab(
        "grade", "01-tcp-hello", "solutions/01-tcp-hello", "--out", str(tmp_path / "out"),
        "--roster", str(tmp_path / "absent.csv"),
        env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
    )  # fmt: skip
    assert done.returncode == 2
    assert "cannot read the roster" in done.stderr
    assert not (tmp_path / "out").exists()
