"""A lab network: internal (no route out), uniquely named, on a small explicit subnet."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import docker.errors
import docker.types

from grader.errors import InfrastructureError
from grader.sandbox.labels import RunLabels

# 4096 subnets of 16 addresses each; a run takes one, so many runs never exhaust Docker's
# address pools, and one picked at random rarely collides with a concurrent run's.
POOL = ipaddress.ip_network("10.213.0.0/16")
SUBNET_PREFIX = 28
ATTEMPTS = 20


def _candidate_subnets(seed: str) -> list[ipaddress.IPv4Network]:
    subnets = [ipaddress.IPv4Network(s) for s in POOL.subnets(new_prefix=SUBNET_PREFIX)]
    return random.Random(seed).sample(subnets, ATTEMPTS)


@contextmanager
def lab_network(client: Any, labels: RunLabels) -> Iterator[Any]:
    """Creates the run's network and removes it on the way out, whatever happened."""
    network = None
    last_error: Exception | None = None
    for subnet in _candidate_subnets(labels.run_id):
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=str(subnet))])
        try:
            network = client.networks.create(
                f"socketlab-{labels.run_id}",
                driver="bridge",
                internal=True,
                ipam=ipam,
                labels=labels.as_dict(),
                check_duplicate=True,
            )
            break
        except docker.errors.APIError as e:
            if "overlap" not in str(e).lower():
                raise InfrastructureError(f"cannot create the lab network: {e}") from e
            last_error = e
    if network is None:
        raise InfrastructureError(f"no free subnet for the lab network: {last_error}")
    try:
        yield network
    finally:
        with suppress(docker.errors.NotFound):
            network.remove()
