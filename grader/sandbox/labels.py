"""Labels on every container, network and volume socketlab creates, and cleanup by label."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from typing import Any

MANAGED = "socketlab.managed"
RUN = "socketlab.run"
OWNER_HOST = "socketlab.owner-host"
OWNER_PID = "socketlab.owner-pid"
OWNER_PID_ENV = "SOCKETLAB_OWNER_PID"
"""Set by a batch for its worker processes: their resources are the batch's (its pid)."""


@dataclass(frozen=True)
class RunLabels:
    """Identifies one grading run; every resource of the run carries these labels."""

    run_id: str
    host: str
    pid: int

    @classmethod
    def new(cls) -> RunLabels:
        """A fresh run id, owned by this process or by the batch named in OWNER_PID_ENV."""
        return cls(run_id=uuid.uuid4().hex[:12], host=socket.gethostname(), pid=owner_pid())

    def as_dict(self) -> dict[str, str]:
        return {MANAGED: "1", RUN: self.run_id, OWNER_HOST: self.host, OWNER_PID: str(self.pid)}


def owner_pid() -> int:
    """The pid that owns what this process makes: $SOCKETLAB_OWNER_PID, else this process's."""
    raw = os.environ.get(OWNER_PID_ENV, "")
    return int(raw) if raw.isdigit() else os.getpid()


def _owner_is_gone(labels: dict[str, str]) -> bool:
    """True when the process that created a resource on this host no longer runs."""
    if labels.get(OWNER_HOST) != socket.gethostname():
        return False
    try:
        pid = int(labels.get(OWNER_PID, ""))
    except ValueError:
        return True
    return process_is_gone(pid)


def process_is_gone(pid: int) -> bool:
    """True when no process with this pid runs on this host (one of another user's is not gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def owner_filters(pid: int, host: str | None = None) -> dict[str, list[str]]:
    """Docker `filters` for what the socketlab process `pid` on `host` (default: this one) made."""
    return {
        "label": [
            f"{MANAGED}=1",
            f"{OWNER_PID}={pid}",
            f"{OWNER_HOST}={host or socket.gethostname()}",
        ]
    }


def owned_by(client: Any, pid: int) -> list[Any]:
    """The containers, networks and volumes that the socketlab process `pid` on this host made."""
    filters = owner_filters(pid)
    return [
        *client.containers.list(all=True, filters=filters, ignore_removed=True),
        *client.networks.list(filters=filters),
        *client.volumes.list(filters=filters),
    ]


def sweep(
    client: Any,
    *,
    run_id: str | None = None,
    stale_only: bool = True,
    owner_pid: int | None = None,
) -> int:
    """Removes labelled containers, then volumes and networks; returns how many were removed.

    With `run_id`, only that run's resources; with `owner_pid`, only those the socketlab
    process with that pid on this host made; with `stale_only` (and neither), only those whose
    owning process on this host has ended (so concurrent runs are left alone).
    """
    filters = owner_filters(owner_pid) if owner_pid is not None else {"label": [f"{MANAGED}=1"]}
    if run_id:
        filters["label"].append(f"{RUN}={run_id}")
    stale_only = stale_only and run_id is None and owner_pid is None
    removed = 0
    for container in client.containers.list(all=True, filters=filters, ignore_removed=True):
        if stale_only and not _owner_is_gone(container.labels):
            continue
        try:
            container.remove(force=True, v=True)
            removed += 1
        except Exception as e:  # already gone, or being removed by its own run
            if "No such container" not in str(e) and "already in progress" not in str(e):
                raise
    removed += _sweep_volumes(client, filters, stale_only)
    for network in client.networks.list(filters=filters):
        labels = network.attrs.get("Labels") or {}
        if stale_only and not _owner_is_gone(labels):
            continue
        from grader.sandbox.network import remove_network  # network.py imports this module

        remove_network(network)
        removed += 1
    return removed


def _sweep_volumes(client: Any, filters: dict[str, list[str]], stale_only: bool) -> int:
    """Removes the labelled volumes `filters` selects (after their containers); how many.

    One still mounted by a container that is being removed is left for the next sweep.
    """
    removed = 0
    for volume in client.volumes.list(filters=filters):
        if stale_only and not _owner_is_gone(volume.attrs.get("Labels") or {}):
            continue
        try:
            volume.remove(force=True)
            removed += 1
        except Exception as e:
            if "no such volume" not in str(e).lower() and "in use" not in str(e).lower():
                raise
    return removed
