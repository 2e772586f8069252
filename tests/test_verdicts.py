"""Mistakes by kind (tests/mistakes_*.py) graded for real: each fails exactly its checks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import GradedBatch
from tests.submissions import BY_TOPIC, Broken

pytestmark = pytest.mark.docker


def assert_fails_exactly_its_checks(batch: GradedBatch, broken: Broken) -> None:
    assert batch.failed_checks(broken.name) == set(broken.fails)
    feedback = batch.feedback(broken.name)
    for words in broken.mentions:
        assert words in feedback, f"feedback lacks {words!r}:\n{feedback}"


def assert_finished_and_left_nothing(batch: GradedBatch, client: Any) -> None:
    assert batch.process.returncode == 0, batch.process.stderr
    assert batch.leftovers(client) == []


@pytest.mark.parametrize("broken", BY_TOPIC["01-tcp-hello"], ids=lambda b: b.name)
def test_lab01_mistake_fails_exactly_its_checks(
    lab01_verdict_batch: GradedBatch, broken: Broken
) -> None:
    assert_fails_exactly_its_checks(lab01_verdict_batch, broken)


@pytest.mark.parametrize("broken", BY_TOPIC["02-tcp-echo"], ids=lambda b: b.name)
def test_lab02_mistake_fails_exactly_its_checks(
    lab02_verdict_batch: GradedBatch, broken: Broken
) -> None:
    assert_fails_exactly_its_checks(lab02_verdict_batch, broken)


@pytest.mark.parametrize("broken", BY_TOPIC["03-udp-ping"], ids=lambda b: b.name)
def test_lab03_mistake_fails_exactly_its_checks(
    lab03_verdict_batch: GradedBatch, broken: Broken
) -> None:
    assert_fails_exactly_its_checks(lab03_verdict_batch, broken)


def test_lab01_mistakes_batch_finishes_and_leaves_nothing(
    lab01_verdict_batch: GradedBatch, docker_ready: Any
) -> None:
    assert_finished_and_left_nothing(lab01_verdict_batch, docker_ready)


def test_lab02_mistakes_batch_finishes_and_leaves_nothing(
    lab02_verdict_batch: GradedBatch, docker_ready: Any
) -> None:
    assert_finished_and_left_nothing(lab02_verdict_batch, docker_ready)


def test_lab03_mistakes_batch_finishes_and_leaves_nothing(
    lab03_verdict_batch: GradedBatch, docker_ready: Any
) -> None:
    assert_finished_and_left_nothing(lab03_verdict_batch, docker_ready)
