"""Waiting for a state: poll a condition with a timeout, never a bare sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from grader import interrupts

T = TypeVar("T")


@dataclass(frozen=True)
class Poll:
    """Polls `condition` until it returns something other than None or the time runs out."""

    timeout_s: float
    interval_s: float = 0.05

    def until(self, condition: Callable[[], T | None]) -> T | None:
        deadline = time.monotonic() + self.timeout_s
        while True:
            result = condition()
            if result is not None:
                return result
            if time.monotonic() >= deadline:
                return None
            with interrupts.interruptible():
                time.sleep(self.interval_s)
