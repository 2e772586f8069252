"""Ctrl-C and SIGTERM while grading are acted on where the grader waits, and never lost.

The signals are sent to this test process itself (SIGTERM: a test run may have SIGINT
ignored, see tests.conftest.SOCKETLAB_AT_A_TERMINAL); `deferred()` puts the previous
handlers back at the end of each test.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from grader import interrupts


def send_sigterm() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def sigterm_later(delay_s: float) -> threading.Timer:
    timer = threading.Timer(delay_s, send_sigterm)
    timer.start()
    return timer


class SignalledWhenCollected:
    """An object whose finalizer is where the signal arrives, then runs more Python code."""

    def __del__(self) -> None:
        send_sigterm()
        sum(range(1000))  # Python runs the handler between these bytecodes


@pytest.fixture
def unraisable(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """What Python drops in finalizers (it would print "Exception ignored in ...")."""
    dropped: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", dropped.append)
    yield dropped


def test_python_drops_a_keyboard_interrupt_raised_in_a_finalizer(
    unraisable: list[Any],
) -> None:
    """Why socketlab defers signals: a handler that raises at once loses this one."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        SignalledWhenCollected()  # collected at once: the signal arrives in __del__
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert [event.exc_type for event in unraisable] == [KeyboardInterrupt]


def test_a_signal_in_a_finalizer_is_kept_and_raised_at_the_next_wait(
    unraisable: list[Any],
) -> None:
    with interrupts.deferred():
        SignalledWhenCollected()
        assert unraisable == []
        assert interrupts.pending() == signal.SIGTERM
        with pytest.raises(KeyboardInterrupt), interrupts.interruptible():
            pass


def test_a_signal_outside_a_wait_interrupts_nothing_until_it_is_asked_for() -> None:
    with interrupts.deferred():
        send_sigterm()
        total = sum(range(1000))  # the code that was running goes on
        assert total == 499500
        with pytest.raises(KeyboardInterrupt):
            interrupts.raise_if_pending()


def test_a_signal_during_a_wait_cuts_it_short() -> None:
    with interrupts.deferred():
        timer = sigterm_later(0.2)
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt), interrupts.interruptible():
            time.sleep(60)
        timer.join()
        assert time.monotonic() - started < 30  # the 60 s wait did not run out


def test_a_call_waited_for_gives_its_value_or_raises_its_error() -> None:
    with interrupts.deferred():
        assert interrupts.wait_for(lambda: 42) == 42
        with pytest.raises(ZeroDivisionError):
            interrupts.wait_for(lambda: 1 / 0)


def test_a_signal_cuts_short_the_wait_for_a_call_but_not_the_call() -> None:
    """KeyboardInterrupt in the main thread's wait; the call itself runs to its end."""
    release, ended = threading.Event(), threading.Event()

    def slow_call() -> str:
        release.wait(60)
        ended.set()
        return "done"

    with interrupts.deferred():
        timer = sigterm_later(0.1)
        with pytest.raises(KeyboardInterrupt):
            interrupts.wait_for(slow_call)
        timer.join()
        assert not ended.is_set()  # the call still waits: only the wait for it was cut short
        release.set()
        assert ended.wait(30)


def test_a_signal_received_before_a_call_keeps_it_from_starting() -> None:
    started = threading.Event()
    with interrupts.deferred():
        send_sigterm()
        with pytest.raises(KeyboardInterrupt):
            interrupts.wait_for(started.set)
    assert not started.is_set()


def test_a_second_signal_does_not_cut_short_the_cleanup_of_the_first() -> None:
    cleaned_up = False
    with interrupts.deferred():
        with pytest.raises(KeyboardInterrupt):
            try:
                timer = sigterm_later(0.1)
                with interrupts.interruptible():
                    time.sleep(60)
            finally:
                timer.join()
                send_sigterm()  # pressed again while the first one is being handled
                with interrupts.interruptible():  # a wait of the cleanup: not interrupted
                    time.sleep(0.01)
                cleaned_up = True
        assert cleaned_up
        with pytest.raises(KeyboardInterrupt):
            interrupts.raise_if_pending()  # after the cleanup, still an interrupted run


def test_held_keeps_signals_until_what_it_removes_is_gone() -> None:
    with interrupts.deferred():
        with interrupts.held():
            send_sigterm()
            with interrupts.interruptible():  # blocked here, or taken by another thread
                time.sleep(0.01)
        assert interrupts.pending() == signal.SIGTERM
        with pytest.raises(KeyboardInterrupt), interrupts.interruptible():
            pass


def test_held_never_interrupts_for_a_signal_received_before() -> None:
    with interrupts.deferred():
        send_sigterm()
        with interrupts.held(), interrupts.interruptible():
            time.sleep(0.01)
        with pytest.raises(KeyboardInterrupt), interrupts.interruptible():
            pass


def test_an_ignored_sigint_stays_ignored_and_the_handlers_come_back() -> None:
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    sigterm_before = signal.getsignal(signal.SIGTERM)
    try:
        with interrupts.deferred():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # as under nohup
            assert signal.getsignal(signal.SIGTERM) is not sigterm_before
        assert signal.getsignal(signal.SIGTERM) is sigterm_before
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_signal_nothing_asked_for_is_raised_when_the_block_ends() -> None:
    with pytest.raises(KeyboardInterrupt), interrupts.deferred():
        send_sigterm()
        sum(range(1000))


def test_signals_received_in_one_grading_are_forgotten_by_the_next() -> None:
    with pytest.raises(KeyboardInterrupt), interrupts.deferred():
        send_sigterm()
    with interrupts.deferred():
        assert interrupts.pending() is None
        with interrupts.interruptible():
            pass
