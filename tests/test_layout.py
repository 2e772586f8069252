"""The submission's layout: which folder is graded, and what a missing program was found as."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from grader.reporting.gradescope import results_json
from grader.reporting.terminal import print_report
from grader.results import SubmissionResult
from grader.sandbox import layout
from grader.sandbox.layout import find_layout, resemblance, submission_files

PROGRAMS = ("server.py", "client.py")


def tree(top: Path, *paths: str) -> Path:
    """A submission folder holding empty files at `paths` ('/'-separated)."""
    for path in paths:
        (top / path).parent.mkdir(parents=True, exist_ok=True)
        (top / path).write_text("")
    return top


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Server.py", "case"),
        ("SERVER.PY", "case"),
        ("server.PY", "case"),
        ("server.py.txt", "extension"),
        ("server.txt", "extension"),
        ("server", "extension"),
        ("server (1).py", "copy"),
        ("server(2).py", "copy"),
        ("server - Copy.py", "copy"),
        ("server copy 2.py", "copy"),
        ("tcp_server.py", "named"),
        ("EchoServer.py", "named"),
        ("TCPServer.py", "named"),
        ("UDPServer.py", "named"),
        ("server2.py", "named"),
        ("observer.py", None),
        ("servers.py", None),
        ("server.py", None),
        ("server.pyc", None),
        ("client.py", None),
        ("README.md", None),
    ],
)
def test_a_name_resembles_server_py_by_its_kind(name: str, kind: str | None) -> None:
    assert resemblance(name, "server.py") == kind


def test_files_at_the_top_level_are_graded_there_with_nothing_to_say(tmp_path: Path) -> None:
    found = find_layout(tree(tmp_path, "server.py", "client.py", "old/server.py"), PROGRAMS)
    assert found == layout.Layout()


def test_a_capitalised_server_is_reported_as_found_and_not_graded(tmp_path: Path) -> None:
    found = find_layout(tree(tmp_path, "Server.py", "client.py"), PROGRAMS)
    assert found.folder == ""
    server = found.found_for("server.py")
    assert server is not None and server.paths == ("Server.py",)
    assert "exactly server.py, all lower case" in server.cause
    assert "case-sensitive" in server.cause
    assert found.found_for("client.py") is None
    assert found.note is None


def test_one_sub_folder_with_the_programs_is_graded_and_macos_junk_is_ignored(
    tmp_path: Path,
) -> None:
    submission = tree(
        tmp_path,
        "alice-lab01/server.py",
        "alice-lab01/client.py",
        "__MACOSX/alice-lab01/._server.py",
        "__MACOSX/alice-lab01/server.py",
        ".DS_Store",
    )
    found = find_layout(submission, PROGRAMS)
    assert found.folder == "alice-lab01"
    assert found.found == ()
    assert found.note is not None and "alice-lab01/" in found.note


def test_a_nested_sub_folder_is_graded_when_it_is_the_only_one(tmp_path: Path) -> None:
    submission = tree(tmp_path, "submission/lab01/server.py", "submission/lab01/client.py")
    assert find_layout(submission, PROGRAMS).folder == "submission/lab01"


def test_a_misnamed_file_in_the_graded_sub_folder_is_named_with_its_folder(
    tmp_path: Path,
) -> None:
    found = find_layout(tree(tmp_path, "lab/Server.py", "lab/client.py"), PROGRAMS)
    assert found.folder == "lab"
    server = found.found_for("server.py")
    assert server is not None and server.paths == ("lab/Server.py",)
    assert "move it" not in server.cause


def test_two_folders_with_the_programs_are_named_and_neither_is_graded(tmp_path: Path) -> None:
    submission = tree(tmp_path, "a/server.py", "a/client.py", "b/server.py", "b/client.py")
    found = find_layout(submission, PROGRAMS)
    assert found.folder == ""
    server = found.found_for("server.py")
    assert server is not None and server.paths == ("a/server.py", "b/server.py")
    assert "graded none of them" in server.cause
    assert found.note is not None and "a/ and b/" in found.note


def test_folders_are_named_in_the_order_of_their_files(tmp_path: Path) -> None:
    submission = tree(tmp_path, "lab01/server.py", "lab01-final/server.py")
    found = find_layout(submission, PROGRAMS)
    server = found.found_for("server.py")
    assert server is not None and server.paths == ("lab01-final/server.py", "lab01/server.py")
    assert found.note is not None and "(lab01-final/ and lab01/)" in found.note


def test_a_program_in_a_folder_beside_the_others_is_to_be_moved(tmp_path: Path) -> None:
    found = find_layout(tree(tmp_path, "server.py", "src/client.py"), PROGRAMS)
    assert found.folder == ""
    client = found.found_for("client.py")
    assert client is not None and client.paths == ("src/client.py",)
    assert "next to server.py" in client.cause and "move src/client.py" in client.cause


def test_look_alikes_in_the_graded_folder_come_first_and_are_bounded(tmp_path: Path) -> None:
    copies = [f"server ({n}).py" for n in range(1, 10)]
    found = find_layout(tree(tmp_path, "client.py", "zz/Server.py", *copies), PROGRAMS)
    server = found.found_for("server.py")
    assert server is not None
    assert len(server.paths) == layout.MAX_SHOWN and server.more == 10 - layout.MAX_SHOWN
    assert server.paths[0] == "server (1).py"
    assert "zz/Server.py" not in server.paths


def test_nothing_that_looks_like_a_program_gives_no_finding(tmp_path: Path) -> None:
    found = find_layout(tree(tmp_path, "client.py", "notes.txt"), PROGRAMS)
    assert found == layout.Layout()


def test_the_walk_stops_at_the_depth_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout, "MAX_DEPTH", 2)
    submission = tree(tmp_path, "a/b/server.py", "a/b/c/client.py")
    assert submission_files(submission) == ("a/b/server.py",)


def test_a_symbolic_link_named_server_py_counts_as_the_top_level_holding_it(
    tmp_path: Path,
) -> None:
    submission = tree(tmp_path, "lab/server.py", "lab/client.py")
    (submission / "server.py").symlink_to("/etc/hostname")  # the copy leaves it out, and says why
    found = find_layout(submission, PROGRAMS)
    assert found.folder == ""
    client = found.found_for("client.py")
    assert client is not None and client.paths == ("lab/client.py",)


def test_a_submission_note_reaches_results_json_and_the_terminal_report() -> None:
    note = "Your files are in the folder alice-lab01/, not at the top level of your submission"
    result = SubmissionResult("01-tcp-hello", Path("alice"), (), (note,))
    assert note in results_json(result)["output"]
    console = Console(record=True, width=400)
    print_report(console, result)
    assert note in console.export_text()


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("server.py.txt", "server.py.txt ends in .txt after .py"),
        ("server.txt", "server.txt ends in .txt instead of .py"),
        ("server", "server has no .py extension"),
    ],
)
def test_a_wrong_extension_is_said_as_it_is(tmp_path: Path, name: str, words: str) -> None:
    server = find_layout(tree(tmp_path, name, "client.py"), PROGRAMS).found_for("server.py")
    assert server is not None and words in server.cause
