"""--roster: a class list mapped to submission folders, and the Canvas gradebook import file."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from grader.errors import SocketlabError
from grader.reporting.gradebook import GradebookRow
from grader.reporting.roster import CANVAS_COLUMNS, match_roster, read_roster, write_canvas
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
        GradebookRow("bob-lab01", _result(7.5), path=Path("/late/b/bob-lab01")),
        GradebookRow("carol", None, "the batch stopped: Docker", Path("/class/carol")),
        GradebookRow("eve", _result(3), path=Path("/class/eve")),
    ]
    names = [row.name for row in rows]
    matched = match_roster(students, names, [row.path for row in rows], tmp_path / "r.csv")
    unnamed = write_canvas(LAB, students, matched, rows, tmp_path / "canvas.csv")
    with (tmp_path / "canvas.csv").open(encoding="utf-8") as f:
        table = list(csv.reader(f))
    assert table[0] == [*CANVAS_COLUMNS, "01-tcp-hello"]
    assert table[1] == ["Points Possible", "", "", "", "", "15"]
    assert table[2:] == [
        ["Alice Liddell", "101", "s1", "alice", "A", "15"],
        ["Bob Brown", "102", "s2", "bob", "A", "7.5"],
        ["Carol Chen", "103", "s3", "carol", "B", ""],  # not graded: left as it is
        ["Dan Dare", "104", "s4", "dan", "B", ""],  # no submission
    ]
    assert unnamed == ["eve"]


def test_canvas_s_own_export_with_a_folder_column_is_a_roster(tmp_path: Path) -> None:
    """Its Points Possible line, a test student and students who sent nothing."""
    (tmp_path / "export.csv").write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section,Lab 1 (55),Folder\n"
        "    Points Possible,,,,,15,\n"
        '"Liddell, Alice",101,s1,alice,A,,alice\n'
        '"Student, Test",999,,,A,,\n'
    )
    students = read_roster(tmp_path / "export.csv")
    assert [(s.columns["Student"], s.folder) for s in students] == [
        ("Liddell, Alice", "alice"),
        ("Student, Test", ""),
    ]


def _names(*paths: str) -> tuple[list[str], list[Path]]:
    folders = [Path(path) for path in paths]
    return [path.replace("/class/", "").replace("/", "__") for path in paths], folders


def test_a_roster_folder_that_could_mean_two_submissions_is_refused(tmp_path: Path) -> None:
    (tmp_path / "roster.csv").write_text("Student,ID,folder\nAl,1,alice\nAlvarez,2,sec1__alice\n")
    students = read_roster(tmp_path / "roster.csv")
    names, folders = _names("/class/sec1/alice", "/class/sec2/alice")
    with pytest.raises(SocketlabError, match=r"roster.csv:2: folder 'alice' could be any of"):
        match_roster(students, names, folders, tmp_path / "roster.csv")
    (tmp_path / "roster.csv").write_text("Student,ID,folder\nAl,1,sec2__alice\nAl2,2,sec1__alice\n")
    matched = match_roster(read_roster(tmp_path / "roster.csv"), names, folders, tmp_path / "r")
    assert matched == {2: "sec2__alice", 3: "sec1__alice"}


def test_two_roster_lines_never_get_one_submission(tmp_path: Path) -> None:
    (tmp_path / "roster.csv").write_text("Student,ID,folder\nAl,1,alice\nAl2,2,x__alice\n")
    names, folders = ["x__alice"], [Path("/class/x/alice")]
    with pytest.raises(SocketlabError, match=r"roster.csv:3: x__alice is line 2's submission"):
        match_roster(read_roster(tmp_path / "roster.csv"), names, folders, tmp_path / "roster.csv")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Student,ID\nAlice,1\n", "roster.csv:1: the roster needs the column(s) folder"),
        ("Student,folder\nAlice,alice\n", "roster.csv:1: the roster needs the column(s) one of"),
        ("Student,ID,folder\nAlice,1,alice\nAl,2,alice\n", "roster.csv:3: folder 'alice' is on"),
        ("Student,ID,folder\nAlice,,alice\n", "roster.csv:2: 'Alice' has none of ID"),
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
