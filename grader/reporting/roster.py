"""A class roster (`--roster FILE`) and the gradebook import file it makes for Canvas.

The roster is CSV with a header. Its `folder` column names each student's submission folder
(its name, as given to `socketlab grade`, or its name in --out); the other columns are
Canvas's own gradebook columns, so an instructor can start from Canvas's gradebook export
and add `folder`: `Student`, `ID`, `SIS User ID`, `SIS Login ID`, `Section` (`Student` and
at least one of the three ids are required; Canvas matches students by those ids).

`canvas.csv` has those five columns and one for the lab, in the shape Canvas's gradebook
import reads (Canvas: "How do I import grades in the Gradebook?"): a header row, a
`Points Possible` row, then one row per student on the roster. A student whose submission
was not graded, or who has none, gets an empty cell (Canvas leaves the grade as it is),
never a zero.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.errors import SocketlabError
from grader.reporting.atomic import write_atomically
from grader.reporting.gradebook import GradebookRow
from grader.reporting.names import printable, spreadsheet_text
from grader.spec.model import LabSpec

CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_IDS = ("ID", "SIS User ID", "SIS Login ID")
FOLDER_COLUMN = "folder"


@dataclass(frozen=True)
class Student:
    """One roster line: the submission folder it names and its Canvas columns."""

    folder: str
    columns: dict[str, str]
    line: int


def read_roster(path: Path) -> list[Student]:
    """The students of the roster at `path`, in its order.

    A student with an empty `folder` has no submission (their cell stays empty); Canvas's
    `Points Possible` line is skipped, so its gradebook export with a `folder` column added
    is a roster. Column names are matched ignoring letter case and spaces around them.
    Raises SocketlabError, naming the file and line, when it cannot be read, lacks a
    required column, names a folder twice, or has a student with no id.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's byte-order mark
    except (OSError, UnicodeDecodeError) as e:
        raise SocketlabError(f"{printable(str(path))}: cannot read the roster: {e}") from e
    reader = csv.DictReader(io.StringIO(text))
    canonical = {name.casefold(): name for name in (FOLDER_COLUMN, *CANVAS_COLUMNS)}
    header = [name.strip() for name in reader.fieldnames or ()]
    named = {_column(name, canonical) for name in header}
    lacking = [name for name in (FOLDER_COLUMN, "Student") if name not in named]
    if lacking or not any(name in named for name in CANVAS_IDS):
        needed = [*lacking] or [f"one of {', '.join(CANVAS_IDS)}"]
        raise SocketlabError(
            f"{printable(str(path))}:1: the roster needs the column(s) {', '.join(needed)}"
            f" (it has: {', '.join(header) or 'none'})"
        )
    students: list[Student] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(reader, start=2):
        row = {
            _column(key, canonical): (value or "").strip()
            for key, value in raw.items()
            if isinstance(value, str) or value is None  # extra cells come as a list
        }
        if row.get("Student", "").casefold() == "points possible":
            continue  # Canvas's export: the assignments' maximum points
        folder = row.get(FOLDER_COLUMN, "")
        where = f"{printable(str(path))}:{number}"
        if not any(row.get(name) for name in CANVAS_IDS):
            who = row.get("Student") or folder or "a student"
            raise SocketlabError(f"{where}: {who!r} has none of {', '.join(CANVAS_IDS)}")
        if folder and folder in seen:
            raise SocketlabError(f"{where}: folder {folder!r} is on line {seen[folder]} too")
        if folder:
            seen[folder] = number
        columns = {name: row.get(name, "") for name in CANVAS_COLUMNS}
        students.append(Student(folder, columns, number))
    return students


def _column(key: str | None, canonical: dict[str, str]) -> str:
    """A header name as the roster's known columns spell it (any case, spaces around)."""
    name = (key or "").strip()
    return canonical.get(name.casefold(), name)


def match_roster(
    students: Sequence[Student], names: Sequence[str], folders: Sequence[Path], roster: Path
) -> dict[int, str]:
    """Which submission each roster line means: line number -> the submission's name.

    A roster `folder` is a submission's name in --out (`sec1__alice`), or its folder's own
    name (`alice`) when exactly one submission has it. Raises SocketlabError, with the
    roster's file and line, when a folder could mean two submissions, or when two lines
    mean one submission (its score would go to both students).
    """
    by_name = {name: name for name in names}
    by_folder: dict[str, list[str]] = {}
    for name, folder in zip(names, folders, strict=True):
        by_folder.setdefault(folder.name, []).append(name)
    matched: dict[int, str] = {}
    taken: dict[str, int] = {}
    for student in students:
        if not student.folder:
            continue
        where = f"{printable(str(roster))}:{student.line}"
        candidates = [by_name[student.folder]] if student.folder in by_name else []
        candidates = candidates or by_folder.get(student.folder, [])
        if len(candidates) > 1:
            raise SocketlabError(
                f"{where}: folder {student.folder!r} could be any of"
                f" {', '.join(map(printable, candidates))}: write the name it has in --out"
            )
        if not candidates:
            continue  # no such submission: an empty cell
        name = candidates[0]
        if name in taken:
            raise SocketlabError(
                f"{where}: {printable(name)} is line {taken[name]}'s submission too"
            )
        taken[name] = student.line
        matched[student.line] = name
    return matched


def canvas_rows(
    lab: LabSpec,
    students: Sequence[Student],
    matched: dict[int, str],
    rows: Sequence[GradebookRow],
) -> tuple[list[list[str]], list[str]]:
    """The import file's rows (header and Points Possible first), and the names of the
    graded submissions no roster line means (`matched`, from match_roster)."""
    by_name = {row.name: row for row in rows}
    table = [
        [*CANVAS_COLUMNS, lab.id],
        ["Points Possible", "", "", "", "", f"{lab.max_points:g}"],
    ]
    for student in students:
        found = by_name.get(matched.get(student.line, ""))
        score = f"{found.result.score:g}" if found is not None and found.result else ""
        table.append([*(student.columns[name] for name in CANVAS_COLUMNS), score])
    meant = set(matched.values())
    unnamed = [row.name for row in rows if row.name not in meant and row.result is not None]
    return table, unnamed


def write_canvas(
    lab: LabSpec,
    students: Sequence[Student],
    matched: dict[int, str],
    rows: Sequence[GradebookRow],
    path: Path,
) -> list[str]:
    """Writes canvas.csv (atomically); returns the graded submissions not on the roster."""
    table, unnamed = canvas_rows(lab, students, matched, rows)
    text = io.StringIO()
    csv.writer(text).writerows([[spreadsheet_text(cell) for cell in row] for row in table])
    write_atomically(path, text.getvalue())
    return unnamed
