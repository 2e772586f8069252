"""Containers for student programs (hardened) and for the grader's helpers, each removed on exit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import docker.types
import requests.exceptions

from grader.errors import InfrastructureError
from grader.sandbox.labels import RunLabels
from grader.spec.model import Limits

PROBES_DIR = Path(__file__).resolve().parent.parent / "probes"
RUN_BOUNDED = PROBES_DIR / "run_bounded.py"
RUN_BOUNDED_MOUNT = "/opt/socketlab/run_bounded.py"
SUBMISSION_MOUNT = "/submission"
STDIN_MOUNT = "/opt/socketlab/stdin"
PAYLOAD_MOUNT = "/opt/socketlab/payload"
PROBES_MOUNT = "/probes"
NOBODY = "65534:65534"
LOG_CONFIG = docker.types.LogConfig(
    type=docker.types.LogConfig.types.JSON, config={"max-size": "1m", "max-file": "1"}
)


@dataclass(frozen=True)
class ExitState:
    exit_code: int | None
    oom_killed: bool


class Running:
    """A started container: wait for it, stop it, read its bounded output."""

    def __init__(self, container: Any, output_limit_bytes: int) -> None:
        self.container = container
        self.output_limit_bytes = output_limit_bytes

    @property
    def id(self) -> str:
        return str(self.container.id)

    def wait_exit(self, timeout_s: float) -> ExitState | None:
        """The exit state once the container stops, or None if it still runs at the timeout."""
        try:
            self.container.wait(timeout=timeout_s)
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            return None
        return self.state()

    def state(self) -> ExitState:
        self.container.reload()
        state = self.container.attrs["State"]
        running = state.get("Running", False)
        return ExitState(
            exit_code=None if running else int(state.get("ExitCode", -1)),
            oom_killed=bool(state.get("OOMKilled", False)),
        )

    def is_running(self) -> bool:
        self.container.reload()
        return bool(self.container.attrs["State"].get("Running", False))

    def signal(self, name: str) -> None:
        try:
            self.container.kill(signal=name)
        except docker.errors.APIError as e:
            if "is not running" not in str(e):
                raise

    def stop(self, grace_s: float = 1.0) -> None:
        with suppress(docker.errors.NotFound):
            self.container.stop(timeout=max(1, round(grace_s)))

    def output(self, *, stdout: bool) -> bytes:
        """The last bytes of stdout or stderr, never more than the output limit."""
        data: bytes = self.container.logs(stdout=stdout, stderr=not stdout)
        return data[-self.output_limit_bytes :]


def _remove(container: Any) -> None:
    try:
        container.remove(force=True, v=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as e:
        if "already in progress" not in str(e):
            raise


@contextmanager
def started(client: Any, output_limit_bytes: int, **create_args: Any) -> Iterator[Running]:
    """Creates and starts a container and removes it afterwards, also when start fails."""
    try:
        container = client.containers.create(**create_args)
    except docker.errors.ImageNotFound as e:
        raise InfrastructureError(f"image {create_args.get('image')} is missing: {e}") from e
    except docker.errors.APIError as e:
        raise InfrastructureError(f"cannot create a container: {e}") from e
    try:
        try:
            container.start()
        except docker.errors.APIError as e:
            raise InfrastructureError(f"cannot start a container: {e}") from e
        yield Running(container, output_limit_bytes)
    finally:
        _remove(container)


@dataclass(frozen=True)
class LabContext:
    """What every container of one run shares."""

    client: Any
    image: str
    network: Any
    labels: RunLabels
    limits: Limits

    def _common(self, role: str) -> dict[str, Any]:
        labels = {**self.labels.as_dict(), "socketlab.role": role}
        return {
            "image": self.image,
            "labels": labels,
            "log_config": LOG_CONFIG,
            "init": True,
            "read_only": True,
            "security_opt": ["no-new-privileges"],
            "cap_drop": ["ALL"],
            "detach": True,
        }

    def _on_network(self, alias: str | None) -> dict[str, Any]:
        config = {}
        if alias:
            config = {self.network.name: self.client.api.create_endpoint_config(aliases=[alias])}
        return {"network": self.network.name, "networking_config": config or None}

    def student_program(
        self,
        submission: Path,
        file: str,
        env: dict[str, str],
        alias: str | None,
        role: str,
        stdin_file: Path | None = None,
    ) -> Any:
        """Runs `python3 FILE` from the read-only submission, with every limit applied.

        The program runs under run_bounded.py, which keeps a bounded record of its output.
        """
        memory = f"{self.limits.memory_mb}m"
        wrapper: dict[str, Any] = {
            "argv": ["python3", file],
            "keep_bytes": self.limits.output_kb * 1024,
        }
        volumes = {
            str(submission): {"bind": SUBMISSION_MOUNT, "mode": "ro"},
            str(RUN_BOUNDED): {"bind": RUN_BOUNDED_MOUNT, "mode": "ro"},
        }
        if stdin_file is not None:
            wrapper["stdin"] = STDIN_MOUNT
            volumes[str(stdin_file)] = {"bind": STDIN_MOUNT, "mode": "ro"}
        return started(
            self.client,
            self.limits.output_kb * 1024 * 4,
            command=["python3", RUN_BOUNDED_MOUNT, json.dumps(wrapper)],
            user=NOBODY,
            working_dir=SUBMISSION_MOUNT,
            volumes=volumes,
            tmpfs={"/tmp": "size=16m,mode=1777"},
            environment={
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
                "HOME": "/tmp",
                **env,
            },
            mem_limit=memory,
            memswap_limit=memory,
            nano_cpus=int(self.limits.cpus * 1e9),
            pids_limit=self.limits.pids,
            ulimits=[
                docker.types.Ulimit(name="nofile", soft=256, hard=256),
                docker.types.Ulimit(name="fsize", soft=16 << 20, hard=16 << 20),
            ],
            **self._common(role),
            **self._on_network(alias),
        )

    def helper(
        self,
        script: str,
        argument: str,
        role: str,
        *,
        alias: str | None = None,
        share_network_of: Running | None = None,
        capabilities: tuple[str, ...] = (),
        payload_file: Path | None = None,
    ) -> Any:
        """Runs one of the grader's probe scripts: on the lab network, or inside a program's.

        A payload file, if given, is readable at PAYLOAD_MOUNT (too big for an argument).
        """
        volumes = {str(PROBES_DIR): {"bind": PROBES_MOUNT, "mode": "ro"}}
        if payload_file is not None:
            volumes[str(payload_file)] = {"bind": PAYLOAD_MOUNT, "mode": "ro"}
        return self.tool(
            ["python3", f"{PROBES_MOUNT}/{script}", argument],
            role,
            alias=alias,
            share_network_of=share_network_of,
            capabilities=capabilities,
            volumes=volumes,
        )

    def tool(
        self,
        command: list[str],
        role: str,
        *,
        alias: str | None = None,
        share_network_of: Running | None = None,
        capabilities: tuple[str, ...] = (),
        volumes: dict[str, dict[str, str]] | None = None,
    ) -> Any:
        """Runs a grader-owned command as root with only the capabilities it names."""
        placement = (
            {"network_mode": f"container:{share_network_of.id}"}
            if share_network_of is not None
            else self._on_network(alias)
        )
        return started(
            self.client,
            1 << 20,
            command=command,
            user="0:0",
            volumes=volumes or {},
            environment={"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"},
            cap_add=list(capabilities) or None,
            mem_limit="128m",
            memswap_limit="128m",
            pids_limit=64,
            **self._common(role),
            **placement,
        )
