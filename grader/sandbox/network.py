"""A lab network: its containers reach each other and nothing else, and unknown names fail at once.

What a student's program can reach, measured on Docker 20.10.24 (see DOCKER-FACTS.md):

- `internal=True` alone is not enough. Docker still gives the bridge a host-side address
  (the network's gateway) and every container a default route to it, so a program reached
  any host listener bound to 0.0.0.0 through its own gateway, through the default bridge's
  172.17.0.1 and through another lab network's gateway.
- The bridge option `com.docker.network.bridge.inhibit_ipv4=true` leaves the host without
  an IPv4 address on the lab bridge: the default route still exists inside the container,
  but the gateway never answers ARP, so every address off the lab subnet -- the gateway,
  172.17.0.1, the host's own addresses -- fails ("No route to host", or a connect timeout).
  Containers on the network still reach each other by address, alias and container id. The
  option is documented for current engines too (docs.docker.com, bridge driver options);
  with `internal` it needs no iptables rule of ours and no capability in any container.
- IPv6: the network has no IPv6 subnet, and the engine disables IPv6 on the container's
  interfaces (`disable_ipv6=1` on lo and eth0, so no fe80:: address), so the host bridge's
  link-local address is unreachable. A server can still create and bind an IPv6-only or a
  dual-stack socket on `::`. tests/test_isolation.py checks each of these from inside.
- DNS: Docker's embedded DNS (127.0.0.11 in each container) answers the lab's names and
  forwards every other name to the host's resolvers, from the container's namespace. Here
  that stalled for 10 s per lookup, and 20.10 is within CVE-2024-29018's range (the
  forwarded query can leave through another network). Pointing the containers elsewhere
  with `dns=` alone does not help on 20.10: when its upstream refuses or is silent the
  embedded DNS sends no answer at all, so the lookup waits out the client's timeouts (10 s
  with glibc's defaults for `dns=127.0.0.1`; still 1 s with `options timeout:1 attempts:1`,
  glibc's floor, for an IPv6-only list that leaves it no upstream). So each lab
  network gets a name server of its own, NAME_SERVER_SCRIPT at `name_server_address()`,
  that answers every query with an authoritative NXDOMAIN; every container names it with
  `dns=` (LabContext._on_network). The embedded DNS still answers the lab's names itself,
  passes that NXDOMAIN straight back, and never sends a query off the lab network: an
  unknown name fails in milliseconds (tcpdump in the container's namespace and on every
  host interface saw queries go only to the name server). The price is one small container
  per network, started before the network is handed out. Engines with the fix for
  CVE-2024-29018 (26.0, 25.0.5) no longer forward DNS for a container attached only to
  internal networks and answer SERVFAIL themselves; there the name server is never asked.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import docker.errors
import docker.types

from grader.errors import InfrastructureError
from grader.sandbox import image
from grader.sandbox.containers import bounded_command, container_lifetime_s
from grader.sandbox.labels import RunLabels
from grader.sandbox.waiting import Poll

# 4096 subnets of 16 addresses each; a run takes one, so many runs never exhaust Docker's
# address pools, and one picked at random rarely collides with a concurrent run's.
POOL = ipaddress.ip_network("10.213.0.0/16")
SUBNET_PREFIX = 28
ATTEMPTS = 20
NO_HOST_ADDRESS = {"com.docker.network.bridge.inhibit_ipv4": "true"}

NAME_SERVER_SCRIPT = Path(__file__).resolve().parent.parent / "probes" / "null_dns.py"
NAME_SERVER_ROLE = "name-server"
NAME_SERVER_READY = b"ready"
NAME_SERVER_READY_TIMEOUT_S = 60.0
# The name server lives as long as the network: one submission's checks, all of them, so
# twice the lifetime of one check's containers. This bounds it when the grader that started
# it was killed (the next run's sweep or `socketlab clean` removes it sooner).
NAME_SERVER_LIFETIMES = 2
NOBODY = "65534:65534"


def _candidate_subnets(seed: str) -> list[ipaddress.IPv4Network]:
    subnets = [ipaddress.IPv4Network(s) for s in POOL.subnets(new_prefix=SUBNET_PREFIX)]
    return random.Random(seed).sample(subnets, ATTEMPTS)


def _subnet_of(network: Any) -> ipaddress.IPv4Network:
    """The IPv4 subnet the lab network was created with (from `docker network inspect`)."""
    configs = (network.attrs.get("IPAM") or {}).get("Config") or []
    for config in configs:
        with suppress(KeyError, ValueError):
            subnet = ipaddress.ip_network(config["Subnet"])
            if isinstance(subnet, ipaddress.IPv4Network):
                return subnet
    raise InfrastructureError(f"the lab network {network.name} has no IPv4 subnet: {configs}")


def name_server_address(network: Any) -> str:
    """The lab network's own name server: the last host address of its subnet, e.g. "10.213.4.14".

    Docker hands out addresses from the bottom of the subnet, and the name server is the
    first container on the network, so this address is always free when it starts.
    """
    return str(_subnet_of(network)[-2])


def _create_network(client: Any, labels: RunLabels) -> Any:
    last_error: Exception | None = None
    for subnet in _candidate_subnets(labels.run_id):
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=str(subnet))])
        try:
            return client.networks.create(
                f"socketlab-{labels.run_id}",
                driver="bridge",
                internal=True,
                options=NO_HOST_ADDRESS,
                ipam=ipam,
                labels=labels.as_dict(),
                check_duplicate=True,
            )
        except docker.errors.APIError as e:
            if "overlap" not in str(e).lower():
                raise InfrastructureError(f"cannot create the lab network: {e}") from e
            last_error = e
    raise InfrastructureError(f"no free subnet for the lab network: {last_error}")


def _start_name_server(client: Any, network: Any, labels: RunLabels, image_name: str) -> Any:
    """Starts the network's name server and returns its container once it answers.

    Raises InfrastructureError when it cannot start or does not get ready in time.
    """
    address = name_server_address(network)
    endpoint = client.api.create_endpoint_config(ipv4_address=address)
    try:
        container = client.containers.create(
            image=image_name,
            # The script travels in the command (standard library only, a few KB), not in a
            # mount: the engine may be on another machine (see grader.sandbox.volumes), and
            # a network needs no volume of its own this way.
            command=bounded_command(
                ["python3", "-c", NAME_SERVER_SCRIPT.read_text()],
                NAME_SERVER_LIFETIMES * container_lifetime_s(),
            ),
            user=NOBODY,
            labels={**labels.as_dict(), "socketlab.role": NAME_SERVER_ROLE},
            environment={"PYTHONDONTWRITEBYTECODE": "1"},
            # port 53 without CAP_NET_BIND_SERVICE (20.10 and later already default to 0)
            sysctls={"net.ipv4.ip_unprivileged_port_start": "0"},
            log_config=docker.types.LogConfig(
                type=docker.types.LogConfig.types.JSON, config={"max-size": "64k", "max-file": "1"}
            ),
            init=True,
            read_only=True,
            security_opt=["no-new-privileges"],
            cap_drop=["ALL"],
            mem_limit="32m",
            memswap_limit="32m",
            nano_cpus=250_000_000,
            pids_limit=8,
            network=network.name,
            networking_config={network.name: endpoint},
            detach=True,
        )
    except docker.errors.ImageNotFound as e:
        raise InfrastructureError(f"image {image_name} is missing: {e}") from e
    except docker.errors.APIError as e:
        raise InfrastructureError(f"cannot create the lab network's name server: {e}") from e
    try:
        container.start()
        ready = Poll(NAME_SERVER_READY_TIMEOUT_S).until(lambda: _listening(container))
    except docker.errors.APIError as e:
        _remove(container)
        raise InfrastructureError(f"cannot start the lab network's name server: {e}") from e
    if not ready:
        logs = container.logs(tail=20).decode(errors="replace")
        _remove(container)
        raise InfrastructureError(
            f"the lab network's name server did not start in {NAME_SERVER_READY_TIMEOUT_S:g} s;"
            f" its last output:\n{logs}"
        )
    return container


def _listening(container: Any) -> bool | None:
    """True once the name server says it listens, False if it has stopped, else None."""
    if NAME_SERVER_READY in container.logs(stdout=True, stderr=False):
        return True
    container.reload()
    return None if container.status in ("created", "running") else False


def _remove(container: Any) -> None:
    with suppress(docker.errors.NotFound):
        try:
            container.remove(force=True, v=True)
        except docker.errors.APIError as e:
            if "already in progress" not in str(e):
                raise


@contextmanager
def lab_network(client: Any, labels: RunLabels, image_name: str | None = None) -> Iterator[Any]:
    """Creates the run's network and its name server; removes both on the way out, always.

    Yields the Docker SDK Network. `image_name` is the runtime image the name server runs
    from (default: image.runtime_image()). Raises InfrastructureError when Docker refuses.
    """
    network = _create_network(client, labels)
    try:
        name_server = _start_name_server(
            client, network, labels, image_name or image.runtime_image()
        )
        try:
            yield network
        finally:
            _remove(name_server)
    finally:
        remove_network(network)


NETWORK_REMOVAL_TIMEOUT_S = 30.0


def remove_network(network: Any, timeout_s: float = NETWORK_REMOVAL_TIMEOUT_S) -> None:
    """Removes `network` (a Docker SDK Network), waiting for its endpoints to go first.

    A container removed with force leaves the network a moment later, and one whose removal
    another thread started ("already in progress") may still be attached: the engine then
    refuses with 403 "has active endpoints". Each refusal disconnects what is still attached
    (force) and tries again, for up to `timeout_s` seconds. Raises docker.errors.APIError
    when the network is still there after that; an absent network is not an error.
    """
    last: list[docker.errors.APIError] = []

    def removed() -> bool | None:
        try:
            network.remove()
            return True
        except docker.errors.NotFound:
            return True
        except docker.errors.APIError as e:
            if "active endpoints" not in str(e):
                raise
            last[:] = [e]
        with suppress(docker.errors.NotFound):
            network.reload()
            for container_id in network.attrs.get("Containers") or {}:
                with suppress(docker.errors.APIError):
                    network.disconnect(container_id, force=True)
        return None

    if Poll(timeout_s, interval_s=0.2).until(removed) is None:
        raise last[0]
