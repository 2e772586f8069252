"""Ctrl-C and SIGTERM while grading: acted on where the grader waits, and never lost.

Python's own SIGINT handler raises KeyboardInterrupt wherever the main thread is when the
signal arrives. While grading, that can be:
- inside a finalizer (`__del__`, a generator being closed), where Python drops the exception,
  so the grading goes on and ends as if no signal had come;
- between taking and releasing a lock of the Docker SDK's connection pool, which then stays
  taken, so the cleanup that follows the interrupt waits forever.

Inside `deferred()`, a signal is recorded, and raised as KeyboardInterrupt only in an
`interruptible()` block: where the grader waits (its polls, its waits for a worker), which is
nearly all of a grading's time. A wait that is itself a call into the Docker SDK (for a
container to exit, for a probe to end) runs in a thread of its own through `wait_for()`, so
the signal cuts short the main thread's wait for that thread, never the SDK's own code. A
signal that arrives elsewhere is raised at the next such block, by `raise_if_pending()` (at
the start of each check, and after pytest returns), or at the end of `deferred()`, so none is
lost. A SIGINT that the process inherited as ignored (`nohup`, a background job of a shell
without job control) stays ignored, as in every other program.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import TypeVar

HANDLED = (signal.SIGINT, signal.SIGTERM)

T = TypeVar("T")


@dataclass
class _State:
    received: list[int] = field(default_factory=list)  # signal numbers, in order
    armed: bool = False  # in an interruptible() block: the handler raises
    raised: bool = False  # a KeyboardInterrupt for a received signal is on its way up
    holding: int = 0  # depth of held() blocks
    deferring: bool = False  # inside deferred()


_state = _State()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _state.received.append(signum)
    # held() blocks the signals in the main thread only: another thread (a wait_for() call,
    # rich's refresh) may still take one, and this handler then runs during held().
    if _state.armed and not _state.raised and not _state.holding:
        _state.armed = False  # a second signal must not cut short the cleanup of the first
        _state.raised = True
        raise KeyboardInterrupt


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM interrupt only where the grader waits.

    Main thread only (where Python runs signal handlers). The previous handlers are back
    when the block ends, and the signals received in it are forgotten. Raises
    KeyboardInterrupt at the end for a signal that nothing in the block raised.
    """
    global _state
    previous = {signum: signal.getsignal(signum) for signum in HANDLED}
    _state = _State(deferring=True)
    for signum in HANDLED:
        if previous[signum] is not signal.SIG_IGN:
            signal.signal(signum, _on_signal)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        unraised = bool(_state.received) and not _state.raised
        _state = _State()
    if unraised:  # the block ended normally; a signal came where nothing asked for it
        raise KeyboardInterrupt


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """A wait that a signal may cut short with KeyboardInterrupt, at entry or during the block.

    At entry, a signal received earlier is raised, unless it already was (the interrupt is on
    its way up, and this wait is part of the cleanup). Outside `deferred()` this changes
    nothing (Python's own handler interrupts anywhere); inside `held()` it never interrupts.
    """
    if _state.holding:
        yield
        return
    _raise_unraised()
    outer = _state.armed
    _state.armed = True
    try:
        yield
    finally:
        _state.armed = outer and _state.armed  # stays disarmed once this block was interrupted


def _raise_unraised() -> None:
    """Raises KeyboardInterrupt for a signal received and not raised yet (none inside held())."""
    if _state.received and not _state.raised and not _state.holding:
        _state.raised = True
        raise KeyboardInterrupt


def wait_for(call: Callable[[], T]) -> T:
    """Makes a blocking call (a wait on Docker) that a signal cuts short inside `deferred()`.

    The call runs in a thread of its own, and the main thread waits for that thread in an
    `interruptible()` block: KeyboardInterrupt is raised there, never inside the call's own
    code (its locks, its connection pool). An interrupted call is left to end by itself when
    what it waits for is removed by the cleanup. Returns what `call` returns and raises what
    it raises. Outside `deferred()`, or in another thread, it only makes the call.
    """
    if not _state.deferring or threading.current_thread() is not threading.main_thread():
        return call()
    values: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)  # the main thread takes them
        try:
            values.append(call())
        except BaseException as e:  # handed to the caller below
            errors.append(e)

    _raise_unraised()  # a signal that came before: raised before the call starts
    thread = threading.Thread(target=run, name="socketlab-wait", daemon=True)
    thread.start()
    with interruptible():
        thread.join()
    if errors:
        raise errors[0]
    return values[0]


def count() -> int:
    """How many signals were received inside `deferred()` so far."""
    return len(_state.received)


def pending() -> int | None:
    """The first signal received inside `deferred()` (a signal number), or None."""
    return _state.received[0] if _state.received else None


def raise_if_pending() -> None:
    """Raises KeyboardInterrupt when a signal was received inside `deferred()`.

    Also when one was raised before: the caller is past the code that handled (or dropped) it.
    """
    if _state.received:
        _state.raised = True
        raise KeyboardInterrupt


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Delays SIGINT and SIGTERM until the block ends: for removing what a grading made.

    A Ctrl-C in the middle of removing containers would leave them behind. The signals are
    blocked (and delivered as usual when the block ends), and no `interruptible()` block
    inside raises, also for a signal received before. Main thread only; elsewhere nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    _state.holding += 1
    try:
        yield
    finally:
        _state.holding -= 1
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
