"""Lab 02 graded for real: the echo solution, the starter and one broken submission per mistake."""

from __future__ import annotations

import pytest

from grader.spec.loader import load_spec
from tests.conftest import GradedBatch, solution_name, starter_name
from tests.submissions import CORE, REPOSITORY, Broken

pytestmark = pytest.mark.docker

LAB02_SPEC = load_spec(REPOSITORY / "labs" / "02-tcp-echo" / "spec.yaml")


def test_grading_the_batch_exits_zero(lab02_batch: GradedBatch) -> None:
    assert lab02_batch.process.returncode == 0, lab02_batch.process.stderr


def test_solution_scores_full_marks(lab02_batch: GradedBatch) -> None:
    assert lab02_batch.failed_checks(solution_name("02-tcp-echo")) == set()
    assert lab02_batch.results(solution_name("02-tcp-echo"))["score"] == LAB02_SPEC.max_points


def test_starter_scores_less(lab02_batch: GradedBatch) -> None:
    assert lab02_batch.results(starter_name("02-tcp-echo"))["score"] < LAB02_SPEC.max_points


@pytest.mark.parametrize("broken", CORE["02-tcp-echo"], ids=lambda b: b.name)
def test_broken_submission_fails_exactly_its_checks(
    lab02_batch: GradedBatch, broken: Broken
) -> None:
    assert lab02_batch.failed_checks(broken.name) == set(broken.fails)
    feedback = lab02_batch.feedback(broken.name)
    for words in broken.mentions:
        assert words in feedback, f"feedback lacks {words!r}:\n{feedback}"
