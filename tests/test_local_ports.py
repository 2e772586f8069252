"""The local backend's ports: a run waits for ports a program left in TIME_WAIT to expire.

A program can close thousands of connections first, from ports it chose, and leave every
port the grader would try unusable for the 60 s of TIME_WAIT: the next scenario, or the
next submission, must wait for them rather than be refused as an infrastructure failure.
Here port_is_free is made to answer as on such a machine; no port is really held.
"""

from __future__ import annotations

import pytest

from grader.errors import InfrastructureError
from grader.sandbox import local


def test_a_run_waits_for_ports_in_time_wait_to_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = []

    def free_after_three_attempts(port: int) -> bool:
        attempts.append(port)
        return len(attempts) > 3 * 201  # each attempt tries the preferred port and 200 more

    monkeypatch.setattr(local, "port_is_free", free_after_three_attempts)
    with local.reserved_port(20432) as port:
        assert port in local.PORTS or port == 20432
    assert len(attempts) > 3 * 201


def test_ports_held_for_longer_than_time_wait_are_an_infrastructure_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(local, "port_is_free", lambda port: False)
    monkeypatch.setattr(local, "PORT_WAIT_S", 1.5)
    refused = pytest.raises(InfrastructureError, match="other processes of this machine hold")
    with refused, local.reserved_port(20432):
        pass
