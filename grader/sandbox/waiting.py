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
    """Polls `condition` until it returns something other than None or the time runs out.

    The first polls come quickly and the pause doubles up to `interval_s` (seconds): most
    states waited for (a process started, a port listening) arrive within milliseconds, and
    a fixed 50 ms pause would be most of a local scenario's time.
    """

    timeout_s: float
    interval_s: float = 0.05
    first_interval_s: float = 0.002

    def until(self, condition: Callable[[], T | None]) -> T | None:
        deadline = time.monotonic() + self.timeout_s
        pause_s = min(self.first_interval_s, self.interval_s)
        while True:
            result = condition()
            if result is not None:
                return result
            now = time.monotonic()
            if now >= deadline:
                return None
            with interrupts.interruptible():
                time.sleep(min(pause_s, max(deadline - now, 0.0)))
            pause_s = min(pause_s * 2, self.interval_s)
