"""A bounded, private copy of one submission, and a record of every file left out of it and why.

Containers see only this copy. It holds regular files only, at most MAX_FILE_BYTES each,
MAX_TOTAL_BYTES and MAX_FILES in all, at most MAX_DEPTH folders deep, with names that are
valid UTF-8 without control characters. The tree is walked breadth first without recursion
(a tree 2000 folders deep is only examined down to MAX_DEPTH), top-level Python files first,
so server.py and client.py are copied before any data file can use up the total.

Given the lab's programs, the copy is of the folder that holds them (grader.sandbox.layout):
the top level, or the one sub-folder a zipped folder unpacked into. What was left out, and the
layout (which folder, and what looks like a missing program), are written beside the copy
(`left-out.json`, never mounted), so that a missing server.py can be explained:
`left_out_reason(staged, "server.py")`, `found_instead(staged, "server.py")`.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader.sandbox.layout import Found, Layout, find_layout

MAX_TOTAL_BYTES = 20 << 20
MAX_FILE_BYTES = 10 << 20
MAX_FILES = 1000
MAX_DEPTH = 16
"""Folders below the top of the submission that are still copied."""
MAX_ENTRIES_EXAMINED = 20_000
"""Beyond this many names the walk stops: a submission of millions of files is not read."""
MAX_RECORDED = 200
"""Left-out files recorded by name; past that they are only counted."""
SKIPPED_DIRS = {".git", "__pycache__", ".venv", "venv", "node_modules", ".mypy_cache"}
COPY_CHUNK_BYTES = 1 << 16


@dataclass(frozen=True)
class LeftOut:
    """A file or folder of the submission that is not in the copy."""

    path: str
    """Relative to the submission, '/'-separated; undecodable bytes as \\udcXX escapes."""
    reason: str
    """Why, as a clause a sentence can end with: 'it is a symbolic link'."""


@dataclass(frozen=True)
class StagingRecord:
    """What the copy left out: the first MAX_RECORDED by name, and how many in all."""

    left_out: tuple[LeftOut, ...]
    left_out_count: int
    layout: Layout = field(default_factory=Layout)
    """Which folder of the submission was copied, and what looks like a missing program;
    `left_out` paths are relative to that folder."""

    def reason_for(self, relative: str) -> str | None:
        return next((item.reason for item in self.left_out if item.path == relative), None)


def _shown(relative: str) -> str:
    """A path as text that always encodes: undecodable bytes become backslash escapes."""
    return relative.encode("utf-8", "backslashreplace").decode("utf-8")


def _name_problem(name: str) -> str | None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8"
    if any(ord(character) < 32 or ord(character) == 127 for character in name):
        return "its name contains control characters"
    return None


def _megabytes(size_bytes: int) -> str:
    return f"{size_bytes / (1 << 20):.1f} MB"


def _copy_regular_file(source: str, destination: Path, size_bytes: int) -> None:
    """Copies at most `size_bytes` of a regular file, refusing one swapped for a link or pipe.

    Raises OSError when it cannot be read or is no longer a regular file.
    """
    descriptor = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as original:
        if not stat.S_ISREG(os.fstat(original.fileno()).st_mode):
            raise OSError(f"{source} is not a regular file any more")
        with destination.open("wb") as copy:
            remaining = size_bytes
            while remaining > 0 and (chunk := original.read(min(COPY_CHUNK_BYTES, remaining))):
                copy.write(chunk)
                remaining -= len(chunk)
    destination.chmod(0o644)


class _Copier:
    """Walks a submission breadth first and copies what fits, recording what does not."""

    def __init__(self, submission: Path, target: Path) -> None:
        self.submission = submission
        self.target = target
        self.total_bytes = 0
        self.files = 0
        self.examined = 0
        self.left_out: list[LeftOut] = []
        self.left_out_count = 0

    def leave_out(self, relative: str, reason: str) -> None:
        self.left_out_count += 1
        if len(self.left_out) < MAX_RECORDED:
            self.left_out.append(LeftOut(_shown(relative), reason))

    def run(self) -> StagingRecord:
        queue: deque[tuple[str, str, int]] = deque([(os.fspath(self.submission), "", 0)])
        while queue:
            directory, relative, depth = queue.popleft()
            try:
                with os.scandir(directory) as scan:
                    entries = sorted(scan, key=lambda e: (not e.name.endswith(".py"), e.name))
            except OSError as e:
                self.leave_out(relative or ".", f"it could not be read ({e.strerror})")
                continue
            for entry in entries:
                self.examined += 1
                if self.examined > MAX_ENTRIES_EXAMINED:
                    self.leave_out(
                        relative or ".",
                        f"the grader examines at most {MAX_ENTRIES_EXAMINED} names in a"
                        " submission and stopped there",
                    )
                    return self.record()
                self.visit(entry, f"{relative}/{entry.name}" if relative else entry.name, depth)
                if entry.is_dir(follow_symlinks=False) and self.enters(entry, depth):
                    queue.append((entry.path, f"{relative}/{entry.name}".lstrip("/"), depth + 1))
        return self.record()

    def record(self) -> StagingRecord:
        return StagingRecord(tuple(self.left_out), self.left_out_count)

    def enters(self, entry: os.DirEntry[str], depth: int) -> bool:
        return (
            entry.name not in SKIPPED_DIRS
            and not entry.name.startswith(".")
            and _name_problem(entry.name) is None
            and depth + 1 <= MAX_DEPTH
        )

    def visit(self, entry: os.DirEntry[str], relative: str, depth: int) -> None:
        """Copies one entry if it is a regular file that fits, else records why not."""
        problem = _name_problem(entry.name)
        if entry.is_symlink():
            self.leave_out(relative, "it is a symbolic link; the grader copies only regular files")
        elif entry.is_dir(follow_symlinks=False):
            if entry.name in SKIPPED_DIRS or entry.name.startswith("."):
                return  # tool and version-control folders: never part of a program
            if problem is not None:
                self.leave_out(relative, problem)
            elif depth + 1 > MAX_DEPTH:
                self.leave_out(relative, f"it is more than {MAX_DEPTH} folders deep")
        elif not entry.is_file(follow_symlinks=False):
            self.leave_out(relative, "it is not a regular file (a pipe, socket or device)")
        elif problem is not None:
            self.leave_out(relative, problem)
        else:
            self.copy(entry, relative)

    def copy(self, entry: os.DirEntry[str], relative: str) -> None:
        try:
            size = entry.stat(follow_symlinks=False).st_size
        except OSError as e:
            self.leave_out(relative, f"it could not be read ({e.strerror})")
            return
        if size > MAX_FILE_BYTES:
            self.leave_out(
                relative,
                f"it is {_megabytes(size)}, more than the {_megabytes(MAX_FILE_BYTES)} the"
                " grader copies of one file",
            )
        elif self.total_bytes + size > MAX_TOTAL_BYTES:
            self.leave_out(
                relative,
                f"the files copied before it already came to {_megabytes(self.total_bytes)}"
                f" of the {_megabytes(MAX_TOTAL_BYTES)} the grader copies in all",
            )
        elif self.files >= MAX_FILES:
            self.leave_out(relative, f"the grader copies at most {MAX_FILES} files")
        else:
            destination = self.target / relative
            try:
                _make_directories(self.target, destination.parent)
                _copy_regular_file(entry.path, destination, size)
            except OSError as e:
                self.leave_out(relative, f"it could not be read ({e.strerror or e})")
                return
            self.total_bytes += size
            self.files += 1


def _make_directories(top: Path, directory: Path) -> None:
    """Creates `directory` below `top`, each level 0o755 so the container user can list it."""
    missing = []
    while directory != top and not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for level in reversed(missing):
        level.mkdir()
        level.chmod(0o755)


def record_path(staged: Path) -> Path:
    """Where the record of what was left out of `staged` is kept: beside it, not in it."""
    return staged.with_name(staged.name + ".left-out.json")


@contextmanager
def staged_submission(
    submission: Path, target: Path, programs: tuple[str, ...] = ()
) -> Iterator[Path]:
    """Copies `submission` into the new directory `target` and yields `target`.

    `programs` are the files the lab runs ("server.py", "client.py"): when the top level
    holds none of them and one sub-folder does, that sub-folder is what is copied (see
    grader.sandbox.layout); with no `programs`, the top level always is.

    `target`'s parent should be private to the grader (a scratch.run_directory). Containers
    read the copy from a volume it is put into (grader.sandbox.volumes), never from here.
    What was left out is recorded in record_path(target). Both are removed afterwards.
    Never raises for the submission's contents; raises OSError if `target` cannot be made.
    """
    target.mkdir()
    target.chmod(0o755)
    try:
        layout = find_layout(submission, programs) if programs else Layout()
        source = submission / layout.folder if layout.folder else submission
        copied = _Copier(source, target).run()
        record = StagingRecord(copied.left_out, copied.left_out_count, layout)
        record_path(target).write_text(json.dumps(asdict(record)))
        yield target
    finally:
        shutil.rmtree(target, ignore_errors=True)
        record_path(target).unlink(missing_ok=True)


def staging_record(staged: Path) -> StagingRecord:
    """What staged_submission left out of `staged`; empty when it kept no record."""
    try:
        fields = json.loads(record_path(staged).read_text())
        items = tuple(LeftOut(str(i["path"]), str(i["reason"])) for i in fields["left_out"])
        return StagingRecord(items, int(fields["left_out_count"]), _layout(fields["layout"]))
    except (OSError, ValueError, KeyError, TypeError):
        return StagingRecord((), 0)


def _layout(fields: dict[str, object]) -> Layout:
    """A Layout from its JSON form (asdict); raises KeyError, TypeError or ValueError."""
    found = fields["found"]
    note = fields["note"]
    if not isinstance(found, list):
        raise TypeError("layout.found is not a list")
    return Layout(
        str(fields["folder"]),
        tuple(
            Found(str(f["program"]), tuple(map(str, f["paths"])), int(f["more"]), str(f["cause"]))
            for f in found
        ),
        None if note is None else str(note),
    )


def left_out_reason(staged: Path, relative: str) -> str | None:
    """Why the file `relative` (e.g. "server.py") is not in the copy, or None if not known."""
    return staging_record(staged).reason_for(relative)


def found_instead(staged: Path, program: str) -> Found | None:
    """What the submission holds that looks like the missing `program`, or None."""
    return staging_record(staged).layout.found_for(program)
