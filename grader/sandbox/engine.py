"""Connects to the Docker engine, and tells an engine that is gone from one that misbehaved."""

from __future__ import annotations

from typing import Any

import docker
import docker.errors
import requests.exceptions

from grader.errors import DockerUnavailableError, EngineLostError, InfrastructureError

PING_TIMEOUT_S = 10
"""How long a ping may take when deciding whether the engine is still there."""

_answered_once = False
"""Whether the engine answered a ping in this process: then failing to reach it means lost."""


def connect() -> Any:
    """A Docker SDK client that has answered a ping.

    Raises DockerUnavailableError when the engine cannot be reached (EngineLostError when it
    had answered earlier in this process).
    """
    global _answered_once
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
        if _answered_once:
            raise lost(e) from e
        raise DockerUnavailableError(
            f"cannot reach the Docker engine ({e}).\n"
            "Hint: start Docker (Docker Desktop, or `sudo systemctl start docker`) and check"
            " that `docker info` works for this user."
        ) from e
    _answered_once = True
    return client


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
