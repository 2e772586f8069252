"""Finds a lab directory from what a user typed: a lab id, or a path to a lab directory.

Lab ids are looked up in ./labs (an instructor's own labs), then in the labs installed with
the package (`grader/lab_files`, which the wheel builds from the repository's top-level
labs/), then in the repository's labs/ when socketlab runs from a checkout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.errors import LabNotFoundError, SpecError
from grader.spec.loader import load_spec

REPOSITORY_LABS = Path(__file__).resolve().parent.parent / "labs"
INSTALLED_LABS = Path(__file__).resolve().parent / "lab_files"
"""The labs in an installed wheel (pyproject.toml maps the package `grader.lab_files` to labs/)."""


def lab_roots() -> list[Path]:
    """Where lab ids are looked up, in order, each existing folder once."""
    roots = [Path.cwd() / "labs", INSTALLED_LABS, REPOSITORY_LABS]
    unique: list[Path] = []
    for root in roots:
        if root.is_dir() and root.resolve() not in unique:
            unique.append(root.resolve())
    return unique


def find_lab(name: str, *, shipped_only: bool = False) -> Path:
    """The spec.yaml of the lab called `name`, or LabNotFoundError listing what exists.

    `shipped_only`: an id of the labs that come with socketlab (installed, or in its own
    checkout), never a path or ./labs: for `socketlab ci`, which runs in the student's
    repository, where a `labs/<id>/spec.yaml` (and a conftest.py beside it) is the
    student's to write.
    """
    as_path = Path(name)
    roots = [root for root in (INSTALLED_LABS, REPOSITORY_LABS) if root.is_dir()]
    if shipped_only:
        for root in roots:
            candidate = root / name / "spec.yaml"
            if "/" not in name and name not in (".", "..") and candidate.is_file():
                return candidate.resolve()
        known = sorted({spec.parent.name for root in roots for spec in root.glob("*/spec.yaml")})
        raise LabNotFoundError(
            f"no lab {name!r} among the labs socketlab ships ({', '.join(known) or 'none'})"
        )
    if (as_path / "spec.yaml").is_file():
        return (as_path / "spec.yaml").resolve()
    if as_path.name == "spec.yaml" and as_path.is_file():
        return as_path.resolve()
    for root in lab_roots():
        candidate = root / name / "spec.yaml"
        if candidate.is_file():
            return candidate
    known = sorted({spec.parent.name for spec in _specs()})
    raise LabNotFoundError(
        f"no lab {name!r}: give a lab id ({', '.join(known) or 'none found'}) or a path to a"
        " lab directory"
    )


@dataclass(frozen=True)
class LabEntry:
    """One lab `socketlab labs` lists: its id (folder name), title, and spec.yaml path.

    `error` is the spec's load error (SpecError's text), with `title` empty, when it fails.
    """

    id: str
    title: str
    spec: Path
    error: str = ""


def available_labs() -> list[LabEntry]:
    """Every lab a lab id can name, in lookup order; an id found twice is listed once,
    from the root that `find_lab` would use."""
    entries = []
    for spec in _specs():
        try:
            entries.append(LabEntry(spec.parent.name, load_spec(spec).title, spec))
        except SpecError as e:
            entries.append(LabEntry(spec.parent.name, "", spec, str(e)))
    return entries


def _specs() -> list[Path]:
    seen: set[str] = set()
    specs = []
    for root in lab_roots():
        for spec in sorted(root.glob("*/spec.yaml")):
            if spec.parent.name not in seen:
                seen.add(spec.parent.name)
                specs.append(spec)
    return specs
