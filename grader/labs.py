"""Finds a lab directory from what a user typed: a lab id under labs/, or a path."""

from __future__ import annotations

from pathlib import Path

from grader.errors import LabNotFoundError

REPOSITORY_LABS = Path(__file__).resolve().parent.parent / "labs"


def lab_roots() -> list[Path]:
    """Where lab ids are looked up: ./labs first, then the labs shipped beside the grader."""
    roots = [Path.cwd() / "labs", REPOSITORY_LABS]
    unique: list[Path] = []
    for root in roots:
        if root.is_dir() and root.resolve() not in unique:
            unique.append(root.resolve())
    return unique


def find_lab(name: str) -> Path:
    """The spec.yaml of the lab called `name`, or LabNotFoundError listing what exists."""
    as_path = Path(name)
    if (as_path / "spec.yaml").is_file():
        return (as_path / "spec.yaml").resolve()
    if as_path.name == "spec.yaml" and as_path.is_file():
        return as_path.resolve()
    for root in lab_roots():
        candidate = root / name / "spec.yaml"
        if candidate.is_file():
            return candidate
    known = sorted({p.parent.name for root in lab_roots() for p in root.glob("*/spec.yaml")})
    raise LabNotFoundError(
        f"no lab {name!r}: give a lab id ({', '.join(known) or 'none found'}) or a path to a"
        " lab directory"
    )
