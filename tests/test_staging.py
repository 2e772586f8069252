"""The submission copy: bounded, private, and honest about every file it leaves out."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from grader.checks.diagnosis import program_problem
from grader.sandbox import staging
from grader.sandbox.staging import left_out_reason, staged_submission, staging_record
from grader.scenarios.steps import missing
from grader.spec.loader import load_spec
from tests.submissions import REPOSITORY

LAB01 = load_spec(REPOSITORY / "labs" / "01-tcp-hello" / "spec.yaml")
SERVER = "print('serving')\n"


def submission_with(tmp_path: Path, **files: str) -> Path:
    folder = tmp_path / "submission"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def feedback_for_missing(staged: Path, file: str) -> str:
    run = missing(staged, file)
    assert run is not None
    verdict = program_problem(run, LAB01)
    assert verdict is not None and not verdict.passed
    return " ".join(
        part
        for part in (verdict.summary, verdict.expected, verdict.received, verdict.cause)
        if part
    )


def test_a_server_py_too_big_is_named_with_its_size_in_the_feedback(tmp_path: Path) -> None:
    folder = submission_with(tmp_path, **{"client.py": "print('hi')\n"})
    with (folder / "server.py").open("wb") as f:
        f.write(b"# padding\n" * ((staging.MAX_FILE_BYTES // 10) + 1))
    with staged_submission(folder, tmp_path / "copy") as staged:
        assert (staged / "client.py").is_file()
        assert not (staged / "server.py").exists()
        feedback = feedback_for_missing(staged, "server.py")
    assert "server.py was left out" in feedback
    assert "10.0 MB" in feedback and "not found" not in feedback


def test_files_past_the_total_are_left_out_and_python_files_come_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staging, "MAX_TOTAL_BYTES", 1000)
    folder = submission_with(tmp_path, **{"server.py": SERVER, "a-data.bin": "x" * 990})
    with staged_submission(folder, tmp_path / "copy") as staged:
        assert (staged / "server.py").is_file()  # copied before the data, though named after it
        reason = left_out_reason(staged, "a-data.bin")
    assert reason is not None and "in all" in reason


def test_past_the_file_count_the_rest_is_left_out_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staging, "MAX_FILES", 5)
    folder = submission_with(tmp_path, **{f"data{n:02}.txt": "x" for n in range(20)})
    with staged_submission(folder, tmp_path / "copy") as staged:
        assert len(list(staged.iterdir())) == 5
        record = staging_record(staged)
    assert record.left_out_count == 15
    assert all("at most 5 files" in item.reason for item in record.left_out)


def test_a_symlinked_server_py_is_left_out_and_the_feedback_says_it_is_a_link(
    tmp_path: Path,
) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("the grader's secrets")
    folder = submission_with(tmp_path)
    (folder / "server.py").symlink_to(outside)
    with staged_submission(folder, tmp_path / "copy") as staged:
        assert not (staged / "server.py").exists()
        feedback = feedback_for_missing(staged, "server.py")
    assert "symbolic link" in feedback


def test_a_pipe_is_left_out_without_blocking(tmp_path: Path) -> None:
    folder = submission_with(tmp_path, **{"server.py": SERVER})
    os.mkfifo(folder / "client.py")
    with staged_submission(folder, tmp_path / "copy") as staged:
        assert "not a regular file" in (left_out_reason(staged, "client.py") or "")


def chain_of_folders(top: Path, depth: int) -> None:
    """`depth` nested folders "d" under `top`, a file in each; made with relative steps,
    since the full path is longer than PATH_MAX."""
    previous = Path.cwd()
    os.chdir(top)
    try:
        for _ in range(depth):
            os.mkdir("d")
            os.chdir("d")
            Path("level.txt").write_text("x")
    finally:
        os.chdir(previous)


def remove_chain_of_folders(top: Path, depth: int) -> None:
    """Removes what chain_of_folders made, bottom up, without recursion."""
    previous = Path.cwd()
    os.chdir(top)
    try:
        for _ in range(depth):
            os.chdir("d")
        for _ in range(depth):
            os.unlink("level.txt")
            os.chdir("..")
            os.rmdir("d")
    finally:
        os.chdir(previous)


def test_a_tree_2000_folders_deep_is_cut_at_the_depth_limit(tmp_path: Path) -> None:
    folder = submission_with(tmp_path, **{"server.py": SERVER})
    chain_of_folders(folder, 2000)
    try:
        with staged_submission(folder, tmp_path / "copy") as staged:
            assert (staged / "server.py").is_file()
            record = staging_record(staged)
            copied = sorted(len(p.relative_to(staged).parts) for p in staged.rglob("level.txt"))
    finally:
        remove_chain_of_folders(folder, 2000)
    assert copied == list(range(2, staging.MAX_DEPTH + 2))  # d/level.txt ... 16 folders deep
    assert [item.reason for item in record.left_out] == [
        f"it is more than {staging.MAX_DEPTH} folders deep"
    ]


def test_names_that_are_not_utf8_never_crash_the_copy(tmp_path: Path) -> None:
    parent = tmp_path / os.fsdecode(b"caf\xe9-folder")  # the submission folder itself
    parent.mkdir()
    (parent / "server.py").write_text(SERVER)
    (parent / os.fsdecode(b"data-\xff.txt")).write_text("x")
    (parent / os.fsdecode(b"dir-\xfe")).mkdir()
    (parent / "line\nbreak.txt").write_text("x")
    with staged_submission(parent, tmp_path / "copy") as staged:
        assert sorted(p.name for p in staged.iterdir()) == ["server.py"]
        record = staging_record(staged)
    reasons = {item.path: item.reason for item in record.left_out}
    assert reasons["data-\\udcff.txt"] == "its name is not valid UTF-8"
    assert reasons["dir-\\udcfe"] == "its name is not valid UTF-8"
    assert reasons["line\nbreak.txt"] == "its name contains control characters"
    for path in reasons:
        path.encode("utf-8")  # every recorded name can be written to any report


def test_the_copy_is_readable_by_others_and_removed_afterwards(tmp_path: Path) -> None:
    folder = submission_with(tmp_path, **{"server.py": SERVER})
    (folder / "server.py").chmod(0o600)
    (folder / "pkg").mkdir(mode=0o700)
    (folder / "pkg" / "util.py").write_text("x = 1\n")
    with staged_submission(folder, tmp_path / "copy") as staged:
        assert stat.S_IMODE(staged.stat().st_mode) == 0o755
        assert stat.S_IMODE((staged / "pkg").stat().st_mode) == 0o755
        assert stat.S_IMODE((staged / "server.py").stat().st_mode) == 0o644
        assert stat.S_IMODE((staged / "pkg" / "util.py").stat().st_mode) == 0o644
    assert not (tmp_path / "copy").exists()
    assert not staging.record_path(tmp_path / "copy").exists()


def test_a_plainly_missing_file_still_says_not_found(tmp_path: Path) -> None:
    folder = submission_with(tmp_path, **{"client.py": "print('hi')\n"})
    with staged_submission(folder, tmp_path / "copy") as staged:
        assert "server.py not found" in feedback_for_missing(staged, "server.py")


def test_the_one_sub_folder_holding_the_programs_is_what_is_copied(tmp_path: Path) -> None:
    folder = submission_with(tmp_path, **{"notes.txt": "mine\n"})
    (folder / "alice-lab01").mkdir()
    (folder / "alice-lab01" / "server.py").write_text(SERVER)
    (folder / "alice-lab01" / "client.py").write_text("print('hi')\n")
    programs = ("server.py", "client.py")
    with staged_submission(folder, tmp_path / "copy", programs) as staged:
        assert sorted(path.name for path in staged.iterdir()) == ["client.py", "server.py"]
        note = staging_record(staged).layout.note
    assert note is not None and "alice-lab01/" in note


def test_a_misnamed_server_is_named_in_the_feedback_and_not_copied_as_server_py(
    tmp_path: Path,
) -> None:
    folder = submission_with(tmp_path, **{"Server.py": SERVER, "client.py": "print('hi')\n"})
    with staged_submission(folder, tmp_path / "copy", ("server.py", "client.py")) as staged:
        assert not (staged / "server.py").exists()
        feedback = feedback_for_missing(staged, "server.py")
    assert "server.py not found; found Server.py" in feedback
    assert "exactly server.py, all lower case" in feedback


def test_without_the_programs_named_the_top_level_is_copied(tmp_path: Path) -> None:
    folder = submission_with(tmp_path)
    (folder / "lab").mkdir()
    (folder / "lab" / "server.py").write_text(SERVER)
    with staged_submission(folder, tmp_path / "copy") as staged:
        assert (staged / "lab" / "server.py").is_file()
        assert staging_record(staged).layout.folder == ""
