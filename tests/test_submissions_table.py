"""The broken submissions cover every check of every lab: no check that cannot fail."""

from __future__ import annotations

import pytest

from grader.spec.loader import load_spec
from tests.submissions import LAB01, LAB02, LAB03, REPOSITORY, Broken


@pytest.mark.parametrize(
    ("lab", "broken"), [("01-tcp-hello", LAB01), ("02-tcp-echo", LAB02), ("03-udp-ping", LAB03)]
)
def test_every_check_is_failed_by_some_broken_submission(
    lab: str, broken: tuple[Broken, ...]
) -> None:
    spec = load_spec(REPOSITORY / "labs" / lab / "spec.yaml")
    failed_somewhere = set().union(*(b.fails for b in broken))
    assert {check.id for check in spec.checks} - failed_somewhere == set()
    assert failed_somewhere <= {check.id for check in spec.checks}


@pytest.mark.parametrize("broken", LAB01 + LAB02 + LAB03, ids=lambda b: f"{b.lab}-{b.name}")
def test_each_broken_submission_applies_to_the_solution(tmp_path, broken: Broken) -> None:
    directory = broken.materialize(tmp_path)
    solution = REPOSITORY / "solutions" / broken.lab
    changed = [
        name
        for name in ("server.py", "client.py")
        if not (directory / name).exists()
        or (directory / name).read_text() != (solution / name).read_text()
    ]
    assert changed, "a broken submission must differ from the solution"
