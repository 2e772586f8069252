"""The same submission gets the same score every time, also while other gradings load the machine.

A lab 01 server that sends its greeting and then resets the connection (SO_LINGER 0) is the
case that once scored differently under load: the reset could reach the grader's client
before its connect() returned, and the greeting that had crossed the wire was then counted
as never received. Five copies are graded at once, in two concurrent batches.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GradedBatch, socketlab_with_pid
from tests.submissions import LAB01

pytestmark = pytest.mark.docker

LAB = "01-tcp-hello"
ENTRY = next(broken for broken in LAB01 if broken.name == "server-resets-connection")
BATCHES = (3, 2)
"""Copies per batch; the batches grade at the same time."""


def graded_batch(parent: Path, batch: int, copies: int) -> tuple[GradedBatch, list[str]]:
    """Grades `copies` copies of ENTRY in one `socketlab grade`; returns it and their names."""
    submissions = parent / f"submissions-{batch}"
    submissions.mkdir()
    names = [f"{ENTRY.name}-{batch}-{copy}" for copy in range(copies)]
    directories = [dataclasses.replace(ENTRY, name=name).materialize(submissions) for name in names]
    out = parent / f"out-{batch}"
    process, pid = socketlab_with_pid(
        "grade", LAB, *map(str, directories), "--out", str(out), timeout_s=600
    )
    return GradedBatch(out, process, pid), names


def test_a_server_that_resets_after_its_greeting_scores_the_same_in_concurrent_batches(
    tmp_path: Path, docker_ready: Any
) -> None:
    with ThreadPoolExecutor(max_workers=len(BATCHES)) as pool:
        futures = [
            pool.submit(graded_batch, tmp_path, batch, copies)
            for batch, copies in enumerate(BATCHES)
        ]
        batches = [future.result() for future in futures]
    scores = {}
    for batch, names in batches:
        assert batch.process.returncode == 0, batch.process.stderr[-2000:]
        for name in names:
            scores[name] = (batch.results(name)["score"], tuple(sorted(batch.failed_checks(name))))
    assert set(scores.values()) == {(14.0, tuple(sorted(ENTRY.fails)))}, scores
