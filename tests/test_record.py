"""grade.json: a graded submission's record, read back for --resume and for the batch."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from grader.batch import default_jobs
from grader.cli import _subdirectories, _unique_names
from grader.errors import SocketlabError
from grader.reporting.record import read_record, write_record
from grader.results import CheckResult, SubmissionResult
from grader.spec.loader import load_spec
from tests.submissions import REPOSITORY

LAB = load_spec(REPOSITORY / "labs" / "01-tcp-hello" / "spec.yaml")


def graded(points: float = 1.0) -> SubmissionResult:
    checks = tuple(
        CheckResult(c.id, c.title, c.kind, c.points, min(points, c.points), "passed", c.hidden)
        for c in LAB.checks
    )
    return SubmissionResult(LAB.id, Path("/s/alice"), checks, ("graded the sub-folder a/",))


def test_a_record_reads_back_as_the_scores_statuses_notes_and_time_it_was_written_with(
    tmp_path: Path,
) -> None:
    result = replace(graded(), checks=(replace(graded().checks[0], status="error", points=0),
                                       *graded().checks[1:]))  # fmt: skip
    write_record(result, 12.3456, LAB, tmp_path / "grade.json")
    read = read_record(LAB, tmp_path / "grade.json")
    assert read is not None
    again, seconds = read
    assert seconds == 12.346
    assert again.score == result.score and again.max_score == result.max_score
    assert [c.status for c in again.checks] == [c.status for c in result.checks]
    assert again.notes == result.notes and again.submission == result.submission


def test_a_record_of_another_lab_or_of_changed_checks_is_not_complete(tmp_path: Path) -> None:
    path = tmp_path / "grade.json"
    write_record(graded(), 1.0, LAB, path)
    document = json.loads(path.read_text())
    path.write_text(json.dumps({**document, "lab": "02-tcp-echo"}))
    assert read_record(LAB, path) is None
    path.write_text(json.dumps({**document, "checks": document["checks"][1:]}))
    assert read_record(LAB, path) is None


def test_a_missing_or_malformed_record_is_not_complete(tmp_path: Path) -> None:
    path = tmp_path / "grade.json"
    assert read_record(LAB, path) is None
    path.write_text("{not json")
    assert read_record(LAB, path) is None
    path.write_text(json.dumps({"version": 2, "lab": LAB.id, "checks": [{"id": 3}]}))
    assert read_record(LAB, path) is None
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert read_record(LAB, path) is None


def test_a_record_of_another_spec_or_another_folder_or_with_impossible_points_is_not_complete(
    tmp_path: Path,
) -> None:
    path = tmp_path / "grade.json"
    write_record(graded(), 1.0, LAB, path)
    document = json.loads(path.read_text())
    assert read_record(LAB, path, Path("/s/alice")) is not None
    assert read_record(LAB, path, Path("/s/alice-2")) is None
    path.write_text(json.dumps({**document, "spec_sha256": "0" * 64}))
    assert read_record(LAB, path) is None
    for points in ("nan", float("inf"), 100, -1, True, "1"):
        checks = [{**document["checks"][0], "points": points}, *document["checks"][1:]]
        path.write_text(json.dumps({**document, "checks": checks}))
        assert read_record(LAB, path) is None, points
    path.write_text(json.dumps({**document, "notes": "abc"}))
    assert read_record(LAB, path) is None


def test_same_folder_names_are_named_after_their_paths_whatever_the_order(
    tmp_path: Path,
) -> None:
    folders = [tmp_path / "a" / "alice", tmp_path / "b" / "alice", tmp_path / "b" / "alice-2"]
    assert _unique_names(folders) == ["a__alice", "b__alice", "alice-2"]
    assert _unique_names(folders[::-1]) == ["alice-2", "b__alice", "a__alice"]
    deeper = [tmp_path / "x" / "late" / "alice", tmp_path / "y" / "late" / "alice"]
    assert _unique_names(deeper) == ["x__late__alice", "y__late__alice"]


def test_names_that_differ_in_letter_case_alone_get_names_of_their_own(tmp_path: Path) -> None:
    """`Eve` and `eve` would be one folder of --out on a case-insensitive disk."""
    names = _unique_names([tmp_path / "Eve", tmp_path / "eve", tmp_path / "bob"])
    assert names[2] == "bob"
    assert names[0].startswith("Eve-") and names[1].startswith("eve-")
    assert len({name.casefold() for name in names}) == 3


def test_one_folder_given_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SocketlabError, match="more than once"):
        _unique_names([tmp_path / "alice", tmp_path / "bob" / ".." / "alice"])


def test_a_linked_folder_keeps_its_own_name_and_a_long_one_is_cut_with_a_digest(
    tmp_path: Path,
) -> None:
    (tmp_path / "dave").mkdir()
    (tmp_path / "link-to-dave").symlink_to(tmp_path / "dave")
    long_a, long_b = "\u200b" * 85 + "a", "\u200b" * 85 + "b"
    names = _unique_names([tmp_path / "link-to-dave", tmp_path / long_a, tmp_path / long_b])
    assert names[0] == "link-to-dave"
    assert all(len(name) <= 96 for name in names[1:]) and names[1] != names[2]


def test_submissions_from_a_folder_are_its_subfolders_in_name_order_without_hidden_or_out(
    tmp_path: Path,
) -> None:
    for name in ("bob", "alice", ".git", "results", "Zed"):
        (tmp_path / name).mkdir()
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "loop").symlink_to(tmp_path)
    (tmp_path / "up").symlink_to(tmp_path.parent)
    found = _subdirectories(tmp_path, tmp_path / "results")
    assert [path.name for path in found] == ["Zed", "alice", "bob"]


def test_the_default_number_of_jobs_is_at_least_one_and_at_most_eight() -> None:
    assert 1 <= default_jobs() <= 8


def test_a_folder_named_like_a_report_file_in_any_case_gets_a_name_of_its_own(
    tmp_path: Path,
) -> None:
    names = _unique_names([tmp_path / "a" / "Canvas.csv", tmp_path / "b" / "GRADEBOOK.CSV"])
    assert names == ["a__Canvas.csv", "b__GRADEBOOK.CSV"]
    composed, decomposed = "\u00e9", "e\u0301"  # one folder on a normalising disk
    names = _unique_names([tmp_path / "x" / composed, tmp_path / "y" / decomposed])
    assert names == [f"x__{composed}", f"y__{decomposed}"]
