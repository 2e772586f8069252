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

    Raises SocketlabError, naming the file and line, when it cannot be read, lacks a
    required column, names a folder twice, or has a student with no folder or no id.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's byte-order mark
    except (OSError, UnicodeDecodeError) as e:
        raise SocketlabError(f"{printable(str(path))}: cannot read the roster: {e}") from e
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or ()]
    lacking = [name for name in (FOLDER_COLUMN, "Student") if name not in header]
    if lacking or not any(name in header for name in CANVAS_IDS):
        needed = [*lacking] or [f"one of {', '.join(CANVAS_IDS)}"]
        raise SocketlabError(
            f"{printable(str(path))}:1: the roster needs the column(s) {', '.join(needed)}"
            f" (it has: {', '.join(header) or 'none'})"
        )
    students: list[Student] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(reader, start=2):
        row = {(key or "").strip(): (value or "").strip() for key, value in raw.items()}
        folder = row.get(FOLDER_COLUMN, "")
        where = f"{printable(str(path))}:{number}"
        if not folder:
            raise SocketlabError(f"{where}: no {FOLDER_COLUMN} for {row.get('Student')!r}")
        if not any(row.get(name) for name in CANVAS_IDS):
            raise SocketlabError(f"{where}: {folder!r} has none of {', '.join(CANVAS_IDS)}")
        if folder in seen:
            raise SocketlabError(f"{where}: folder {folder!r} is on line {seen[folder]} too")
        seen[folder] = number
        columns = {name: row.get(name, "") for name in CANVAS_COLUMNS}
        students.append(Student(folder, columns, number))
    return students


def canvas_rows(
    lab: LabSpec, students: Sequence[Student], rows: Sequence[GradebookRow]
) -> tuple[list[list[str]], list[str]]:
    """The import file's rows (header and Points Possible first), and the names of the
    graded submissions no roster line names."""
    by_folder: dict[str, GradebookRow] = {}
    for row in rows:
        by_folder[row.name] = row
        if row.path is not None:
            by_folder.setdefault(row.path.name, row)
    table = [
        [*CANVAS_COLUMNS, lab.id],
        ["Points Possible", "", "", "", "", f"{lab.max_points:g}"],
    ]
    named = set()
    for student in students:
        found = by_folder.get(student.folder)
        score = ""
        if found is not None:
            named.add(found.name)
            if found.result is not None:
                score = f"{found.result.score:g}"
        table.append([*(student.columns[name] for name in CANVAS_COLUMNS), score])
    unnamed = [row.name for row in rows if row.name not in named and row.result is not None]
    return table, unnamed


def write_canvas(
    lab: LabSpec, students: Sequence[Student], rows: Sequence[GradebookRow], path: Path
) -> list[str]:
    """Writes canvas.csv (atomically); returns the graded submissions not on the roster."""
    table, unnamed = canvas_rows(lab, students, rows)
    text = io.StringIO()
    csv.writer(text).writerows([[spreadsheet_text(cell) for cell in row] for row in table])
    write_atomically(path, text.getvalue())
    return unnamed
