"""Connects to the Docker engine, turning every way that fails into DockerUnavailableError."""

from __future__ import annotations

from typing import Any

import docker
import docker.errors

from grader.errors import DockerUnavailableError


def connect() -> Any:
    """A Docker SDK client that has answered a ping."""
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as e:
        raise DockerUnavailableError(
            f"cannot reach the Docker engine ({e}).\n"
            "Hint: start Docker (Docker Desktop, or `sudo systemctl start docker`) and check"
            " that `docker info` works for this user."
        ) from e
    return client
