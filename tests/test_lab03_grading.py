"""Lab 03 graded for real: the UDP solution, the starter and one broken submission per mistake."""

from __future__ import annotations

import pytest

from grader.spec.loader import load_spec
from tests.conftest import GradedBatch, socketlab, solution_name, starter_name
from tests.submissions import CORE, REPOSITORY, Broken

pytestmark = pytest.mark.docker

LAB03_SPEC = load_spec(REPOSITORY / "labs" / "03-udp-ping" / "spec.yaml")


def test_grading_the_batch_exits_zero(lab03_batch: GradedBatch) -> None:
    assert lab03_batch.process.returncode == 0, lab03_batch.process.stderr


def test_solution_scores_full_marks(lab03_batch: GradedBatch) -> None:
    assert lab03_batch.failed_checks(solution_name("03-udp-ping")) == set()
    assert lab03_batch.results(solution_name("03-udp-ping"))["score"] == LAB03_SPEC.max_points


def test_starter_scores_less(lab03_batch: GradedBatch) -> None:
    assert lab03_batch.results(starter_name("03-udp-ping"))["score"] < LAB03_SPEC.max_points


@pytest.mark.parametrize("broken", CORE["03-udp-ping"], ids=lambda b: b.name)
def test_broken_submission_fails_exactly_its_checks(
    lab03_batch: GradedBatch, broken: Broken
) -> None:
    assert lab03_batch.failed_checks(broken.name) == set(broken.fails)
    feedback = lab03_batch.feedback(broken.name)
    for words in broken.mentions:
        assert words in feedback, f"feedback lacks {words!r}:\n{feedback}"


def test_grading_is_the_same_on_every_run(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A submission judged under impairment, graded three times: the same scores each time."""
    broken = next(b for b in CORE["03-udp-ping"] if b.name == "client-takes-any-datagram")
    copies = [broken.materialize(tmp_path_factory.mktemp("lab03-determinism")) for _ in range(3)]
    out = tmp_path_factory.mktemp("lab03-determinism-out")
    done = socketlab("grade", "03-udp-ping", *map(str, copies), "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = [line.split(",") for line in (out / "gradebook.csv").read_text().splitlines()[1:]]
    assert len(rows) == 3
    assert len({tuple(row[2:]) for row in rows}) == 1, rows  # all but the name and path
