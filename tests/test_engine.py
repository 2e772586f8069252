"""Telling a lost Docker engine from a Docker error and from a bug in the grader."""

from __future__ import annotations

import docker.errors
import pytest
import requests.exceptions

from grader.errors import EngineLostError, ImageError, InfrastructureError
from grader.sandbox import engine

GONE = "unix:///nonexistent/docker.sock"


def test_a_transport_error_with_no_engine_answering_is_the_engine_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", GONE)
    error = engine.classify(requests.exceptions.ConnectionError("Connection aborted."))
    assert isinstance(error, EngineLostError)
    assert "the Docker engine was lost" in str(error)


def test_an_infrastructure_error_with_no_engine_answering_is_the_engine_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", GONE)
    error = engine.classify(InfrastructureError("cannot create a container: 500"))
    assert isinstance(error, EngineLostError)


def test_an_exception_from_outside_docker_is_left_to_the_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", GONE)
    assert engine.classify(KeyError("datagrams")) is None
    assert engine.classify(ZeroDivisionError()) is None


def test_docker_sdk_errors_are_recognised() -> None:
    assert engine.is_docker_failure(docker.errors.APIError("500 Server Error"))
    assert engine.is_docker_failure(requests.exceptions.ReadTimeout())
    assert not engine.is_docker_failure(ValueError())


@pytest.mark.docker
def test_a_docker_error_with_the_engine_still_answering_stays_an_infrastructure_error() -> None:
    error = engine.classify(docker.errors.APIError("409 Conflict"))
    assert isinstance(error, InfrastructureError)
    assert not isinstance(error, EngineLostError)
    image_error = ImageError("socketlab-runtime:x is missing")
    assert engine.classify(image_error) is image_error
