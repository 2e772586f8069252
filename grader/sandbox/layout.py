"""Where a submission keeps the lab's programs: which folder to grade, what resembles a missing one.

A student's laptop is often case-insensitive, hides extensions and names a second download
`server (1).py`; a zipped folder unpacks into a sub-folder, next to macOS's `__MACOSX/` and
`.DS_Store`. Linux sees none of those as `server.py`. This module looks at the submission's
names only (never at contents) and says:

- which folder holds the programs: the top level when it holds any of them; else the ONE
  sub-folder (at any depth) that holds any of them exactly named; else none (the top level,
  where they are then missing) when several folders do, because choosing would be a guess;
- for each program missing from that folder, the files that look like it (`Server.py`,
  `server.py.txt`, `server (1).py`, `tcp_server.py`, or `server.py` in another folder), and a
  sentence on why the grader did not run them.

A misnamed file is never renamed on the student's behalf: it is reported, and the checks
that need it fail.
"""

from __future__ import annotations

import os
import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

MAX_DEPTH = 16
"""Folders below the top of the submission that are looked into (as the copy does)."""
MAX_NAMES = 20_000
"""Names examined at most: a submission of millions of files is not read."""
MAX_SHOWN = 6
"""Look-alike files named per missing program; past that they are counted."""
JUNK_FOLDERS = frozenset(
    {"__MACOSX", "__pycache__", ".git", ".venv", "venv", "node_modules", ".mypy_cache"}
)
"""Folders no program of the lab is in: archivers' metadata and tools' caches."""
COMPILED_SUFFIXES = frozenset({".pyc", ".pyo"})

Resemblance = Literal["elsewhere", "case", "extension", "copy", "named"]
"""How a file resembles a program: the exact name in another folder, the name in other
letter case, with another or an extra extension, a download's or file manager's copy
name, or a name that contains the program's (`tcp_server.py`)."""

_COPY_MARKER = r"(?:\s*\(\d+\)|\s*-\s*copy(?:\s*\(\d+\))?|\s+copy(?:\s+\d+)?|\s*\(copy\))"
"""` (1)`, `(2)`, ` - Copy`, ` - Copy (2)`, ` copy`, ` copy 2`, ` (copy)`."""


@dataclass(frozen=True)
class Found:
    """The files that look like one missing program, and why none of them was run."""

    program: str
    """The program's name as the lab gives it: "server.py"."""
    paths: tuple[str, ...]
    """At most MAX_SHOWN, relative to the submission, '/'-separated, best match first."""
    more: int
    """How many more look-alikes there are beyond `paths`."""
    cause: str
    """One or two sentences for the student: what is wrong with the name or place, the fix."""


@dataclass(frozen=True)
class Layout:
    """Which folder of a submission the grader grades, and what the missing programs look like."""

    folder: str = ""
    """The folder graded, relative and '/'-separated; "" for the top level of the submission."""
    found: tuple[Found, ...] = ()
    """For each program missing from `folder` that resembles some file: what was found."""
    note: str | None = None
    """A sentence about the whole submission when its layout is not the plain one (a
    sub-folder was graded, or several folders hold the programs and none was graded)."""

    def found_for(self, program: str) -> Found | None:
        return next((found for found in self.found if found.program == program), None)


def submission_files(submission: Path) -> tuple[str, ...]:
    """The files of `submission` (any non-folder entry, links included), relative, sorted.

    Breadth first, at most MAX_DEPTH folders deep and MAX_NAMES names; hidden entries, names
    starting "._" (macOS resource forks) and JUNK_FOLDERS are not looked into. Never raises:
    a folder that cannot be read is passed over.
    """
    files: list[str] = []
    examined = 0
    queue: deque[tuple[str, str, int]] = deque([(os.fspath(submission), "", 0)])
    while queue:
        directory, relative, depth = queue.popleft()
        try:
            with os.scandir(directory) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            examined += 1
            if examined > MAX_NAMES:
                return tuple(sorted(files))
            if entry.name.startswith(".") or entry.name in JUNK_FOLDERS:
                continue
            path = f"{relative}/{entry.name}" if relative else entry.name
            if entry.is_dir(follow_symlinks=False):
                if depth + 1 <= MAX_DEPTH:
                    queue.append((entry.path, path, depth + 1))
            else:
                files.append(path)
    return tuple(sorted(files))


def find_layout(submission: Path, programs: tuple[str, ...]) -> Layout:
    """The layout of the submission folder `submission` for the lab's `programs` ("server.py")."""
    return layout_of(submission_files(submission), programs)


def layout_of(files: tuple[str, ...], programs: tuple[str, ...]) -> Layout:
    """The layout of a submission holding `files` (relative '/'-separated paths of its files).

    `programs` are the files the lab runs, relative to the folder graded ("server.py").
    """
    holders = _folders_holding(files, programs)
    several = len(holders) > 1 and "" not in holders
    folder = holders[0] if len(holders) == 1 else ""
    present = tuple(program for program in programs if _joined(folder, program) in files)
    found = tuple(
        found
        for program in programs
        if program not in present
        and (found := _found(program, files, folder, holders, several, present))
    )
    return Layout(folder, found, _note(folder, holders, several, present))


def _joined(folder: str, program: str) -> str:
    return f"{folder}/{program}" if folder else program


def _folders_holding(files: tuple[str, ...], programs: tuple[str, ...]) -> tuple[str, ...]:
    """The folders (sorted, "" for the top) that hold at least one program, exactly named."""
    folders: set[str] = set()
    for path in files:
        for program in programs:
            if path == program:
                folders.add("")
            elif path.endswith("/" + program):
                folders.add(path[: -len(program) - 1])
    return tuple(sorted(folders, key=lambda folder: f"{folder}/"))  # in the order of their files


def resemblance(name: str, program: str) -> Resemblance | None:
    """How the file name `name` resembles the program name `program`, or None.

    Only names are compared: "Server.py" is "case", "server.py.txt" and "server.txt" are
    "extension", "server (1).py" and "server copy.py" are "copy", "tcp_server.py" is "named";
    "server.py" itself, "server.pyc" and unrelated names are None.
    """
    if name == program:
        return None
    stem, suffix = os.path.splitext(program)
    pattern = (
        rf"(?P<stem>{re.escape(stem)})(?P<copy>{_COPY_MARKER})?"
        rf"(?P<suffix>{re.escape(suffix)})?(?P<extra>\.[A-Za-z0-9]{{1,8}})?"
    )
    match = re.fullmatch(pattern, name, re.IGNORECASE) if stem else None
    if match is not None and (match["extra"] or "").lower() not in COMPILED_SUFFIXES:
        if match["copy"]:
            return "copy"
        if (match["suffix"] or "").lower() != suffix.lower() or match["extra"]:
            return "extension"
        return "case"
    own_stem, own_suffix = os.path.splitext(name)
    if stem and own_suffix.lower() == suffix.lower() and _holds_word(own_stem, stem):
        return "named"
    return None


def _holds_word(text: str, word: str) -> bool:
    """Whether `word` is in `text` as a word of its own, in any case: `tcp_server`,
    `server2`, `EchoServer`, `TCPServer`, `echo-server`; not `observer`."""
    for match in re.finditer(re.escape(word), text, re.IGNORECASE):
        start, end = match.start(), match.end()
        # An acronym before a capitalised word ends at its last capital: TCP|Server.
        after_acronym = text[start - 1 : start + 1].isupper() and text[start + 1 : end].islower()
        before = start == 0 or _boundary(text[start - 1], text[start]) or after_acronym
        after = end == len(text) or _boundary(text[end - 1], text[end])
        if before and after:
            return True
    return False


def _boundary(left: str, right: str) -> bool:
    """Whether a word may end between the characters `left` and `right`."""
    return not (left.isalpha() and right.isalpha()) or (left.islower() and right.isupper())


_RANK: dict[Resemblance, int] = {"elsewhere": 0, "case": 1, "extension": 2, "copy": 3, "named": 4}


def _candidates(program: str, files: tuple[str, ...], folder: str) -> list[tuple[str, Resemblance]]:
    """The files that look like `program`, best first: in the graded folder, then by kind."""
    wanted = PurePosixPath(program)
    candidates: list[tuple[str, Resemblance]] = []
    for path in files:
        if path == _joined(folder, program):
            continue
        if path.endswith("/" + program):
            candidates.append((path, "elsewhere"))
        elif (kind := resemblance(PurePosixPath(path).name, wanted.name)) is not None:
            candidates.append((path, kind))
    graded = PurePosixPath(_joined(folder, program)).parent
    return sorted(
        candidates,
        key=lambda item: (PurePosixPath(item[0]).parent != graded, _RANK[item[1]], item[0]),
    )


def _found(
    program: str,
    files: tuple[str, ...],
    folder: str,
    holders: tuple[str, ...],
    several: bool,
    present: tuple[str, ...],
) -> Found | None:
    candidates = _candidates(program, files, folder)
    if not candidates:
        return None
    shown = candidates[:MAX_SHOWN]
    more = len(candidates) - len(shown)
    if several:
        cause = _several_folders_cause(holders)
    else:
        where = _where(folder, present)
        cause = " ".join(
            dict.fromkeys(_clause(program, path, kind, folder, where) for path, kind in shown[:3])
        )
    if more:
        cause += f" ({more} more files look like {program}.)"
    return Found(program, tuple(path for path, _ in shown), more, cause)


def _where(folder: str, present: tuple[str, ...]) -> str:
    place = f"the folder {folder}/" if folder else "the top level of your submission"
    return f"{place}, next to {listed(present)}" if present else place


def _clause(program: str, path: str, kind: Resemblance, folder: str, where: str) -> str:
    """One sentence on why the file at `path` is not the program, and what to do."""
    name = PurePosixPath(path).name
    elsewhere = PurePosixPath(path).parent != PurePosixPath(_joined(folder, program)).parent
    move = f" and move it to {where}" if elsewhere else ""
    if kind == "elsewhere":
        return f"The grader runs {program} from {where}: move {path} there."
    if kind == "case":
        letters = ", all lower case" if program == program.lower() else ""
        return (
            f"The name must be exactly {program}{letters}: Linux file names are"
            f" case-sensitive, so {name} is not {program} to the grader (a Windows or"
            f" macOS laptop does not tell them apart). Rename it to {program}{move}."
        )
    if kind == "extension":
        suffix = os.path.splitext(program)[1]
        extension = os.path.splitext(name)[1]
        if not extension:
            has = f"has no {suffix} extension"
        elif name.lower().removesuffix(extension.lower()).endswith(suffix.lower()):
            has = f"ends in {extension} after {suffix}"
        else:
            has = f"ends in {extension} instead of {suffix}"
        return (
            f"The name must be exactly {program}: {name} {has} (an editor saving as text, or"
            f" a file manager that hides extensions, does that). Rename it to {program}{move}."
        )
    if kind == "copy":
        return (
            f"The name must be exactly {program}: {name} is the name a browser or file"
            f" manager gives a second copy of a file. Rename it to {program}{move}."
        )
    return (
        f"The name must be exactly {program}, as the lab's README gives it; the grader runs"
        f" no other file. Rename {name} to {program}{move} if it is your program."
    )


def _several_folders_cause(holders: tuple[str, ...]) -> str:
    folders = listed(tuple(f"{folder}/" for folder in holders))
    return (
        f"The lab's files are in {len(holders)} folders ({folders}), so the grader cannot"
        " tell which one is your work and graded none of them: put the one set you want"
        " graded at the top level of your submission."
    )


def _note(
    folder: str, holders: tuple[str, ...], several: bool, present: tuple[str, ...]
) -> str | None:
    if several:
        return _several_folders_cause(holders)
    if folder:
        files = listed(tuple(f"{folder}/{program}" for program in present))
        return (
            f"Your files are in the folder {folder}/, not at the top level of your"
            f" submission: it is the only folder that holds the lab's files, so the grader"
            f" graded that folder ({files}). Submit the files themselves, not a folder, next"
            " time."
        )
    return None


def listed(items: tuple[str, ...]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"
