"""Connects to the Docker engine, and tells an engine that is gone from one that misbehaved."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import docker
import docker.errors
import requests.exceptions

from grader.errors import DockerUnavailableError, EngineLostError, InfrastructureError

PING_TIMEOUT_S = 10
"""How long a ping may take when deciding whether the engine is still there."""

_answered_once = False
"""Whether the engine answered a ping in this process: then failing to reach it means lost."""


ENGINE_POLL_S = 1.0
"""How often connect(wait_s=...) asks again for an engine that did not answer."""


def connect(wait_s: float = 0, say: Callable[[str], None] | None = None) -> Any:
    """A Docker SDK client that has answered a ping.

    wait_s: seconds to keep asking an engine that does not answer yet (one still starting, as
    on a CI runner whose engine starts beside the job), once per ENGINE_POLL_S; `say` is told
    once that it waits. 0 asks once.

    Raises DockerUnavailableError when the engine cannot be reached within wait_s
    (EngineLostError when it had answered earlier in this process).
    """
    global _answered_once
    deadline = time.monotonic() + wait_s
    while True:
        client = None
        try:
            client = docker.from_env(timeout=120)
            client.ping()
            break
        except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
            if client is not None:
                client.close()
            if _answered_once:
                raise lost(e) from e
            if time.monotonic() + ENGINE_POLL_S > deadline:
                raise unavailable(e, wait_s) from e
            if say is not None:
                say(f"waiting up to {wait_s:.0f} s for the Docker engine to answer ({e})")
                say = None
            time.sleep(ENGINE_POLL_S)
    _answered_once = True
    return client


def unavailable(cause: BaseException, waited_s: float) -> DockerUnavailableError:
    """The error for an engine that never answered, after waiting waited_s seconds."""
    waited = f" in {waited_s:.0f} s" if waited_s else ""
    return DockerUnavailableError(
        f"cannot reach the Docker engine{waited} ({cause}).\n"
        "Hint: start Docker (Docker Desktop, or `sudo systemctl start docker`) and check"
        " that `docker info` works for this user."
    )


def answers() -> bool:
    """True when a fresh connection to the engine gets an answer to a ping within seconds."""
    try:
        client = docker.from_env(timeout=PING_TIMEOUT_S)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError):
        return False


def lost(cause: BaseException) -> EngineLostError:
    """The error for an engine that stopped answering mid-run, naming what failed."""
    return EngineLostError(
        f"the Docker engine was lost while grading ({type(cause).__name__}: {cause}).\n"
        "Hint: check that Docker still runs (`docker info`), then grade the submissions"
        " marked `not graded` again; `socketlab clean` removes what this run left."
    )


def is_docker_failure(error: BaseException) -> bool:
    """True for an exception raised by the Docker SDK or its HTTP transport."""
    return isinstance(
        error,
        docker.errors.DockerException | requests.exceptions.RequestException | ConnectionError,
    )


def classify(error: BaseException) -> InfrastructureError | None:
    """What a failure seen while observing a submission means, or None if Docker is not in it.

    A Docker SDK or transport exception, or an InfrastructureError, becomes EngineLostError
    when the engine no longer answers a ping; otherwise a Docker exception becomes an
    InfrastructureError naming it, and an InfrastructureError stays as it is. Anything else is
    not about Docker (None): the caller decides (a bug in the grader).
    """
    if not isinstance(error, InfrastructureError) and not is_docker_failure(error):
        return None
    if isinstance(error, EngineLostError):
        return error
    if not answers():
        return lost(error)
    if isinstance(error, InfrastructureError):
        return error
    return InfrastructureError(f"Docker failed: {type(error).__name__}: {error}")
