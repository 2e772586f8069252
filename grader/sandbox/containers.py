"""Containers for student programs (hardened) and for the grader's helpers, each removed on exit."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import docker.types
import requests.exceptions

from grader import interrupts
from grader.errors import InfrastructureError
from grader.sandbox.labels import RunLabels
from grader.sandbox.volumes import INPUT_FILE, RunVolumes
from grader.sandbox.volumes import PROBES_DIR as PROBES_DIR
from grader.sandbox.volumes import RUN_BOUNDED as RUN_BOUNDED
from grader.spec.model import Input, Limits

# Every mount is a volume the engine owns (grader.sandbox.volumes), never a path of the
# grader's machine: the engine may be on another one.
WRAPPER_MOUNT = "/opt/socketlab"
RUN_BOUNDED_MOUNT = f"{WRAPPER_MOUNT}/{RUN_BOUNDED.name}"
SUBMISSION_MOUNT = "/submission"
INPUT_MOUNT = "/opt/socketlab-input"
STDIN_MOUNT = f"{INPUT_MOUNT}/{INPUT_FILE}"
PAYLOAD_MOUNT = f"{INPUT_MOUNT}/{INPUT_FILE}"
PROBES_MOUNT = "/probes"
STUDENT_UID = 65534
STUDENT_GID = 65534
WRAPPER_USER = "0:0"
# What run_bounded.py needs, as root, to start the program as STUDENT_UID (SETUID, SETGID) and
# to signal and kill it (KILL: without it root cannot signal a process of another uid). The
# program itself gets none of them: changing from uid 0 clears its capabilities.
WRAPPER_CAPABILITIES = ("SETUID", "SETGID", "KILL")
HELPER_NANO_CPUS = 500_000_000  # half a CPU: a capture of a flood cannot eat the machine

CONTAINER_LIFETIME_S = 300.0
"""How long any container socketlab starts may live, whatever happens to the grader.

Far above the longest check (its timeouts add up to well under a minute), and short enough
that a grader killed with SIGKILL leaves nothing running for long: a student's program is
stopped by run_bounded.py's own lifetime, a grader helper by coreutils `timeout`. The
environment variable LIFETIME_ENV (seconds, read when each container is created) overrides
it, for tests and for a course whose checks run longer.
"""
LIFETIME_ENV = "SOCKETLAB_CONTAINER_LIFETIME_S"
KILL_AFTER_S = 5  # `timeout` sends SIGKILL this long after SIGTERM, for a helper that ignores it
LOG_CONFIG = docker.types.LogConfig(
    type=docker.types.LogConfig.types.JSON, config={"max-size": "1m", "max-file": "1"}
)


def container_lifetime_s() -> float:
    """CONTAINER_LIFETIME_S, or the positive number of seconds in $SOCKETLAB_CONTAINER_LIFETIME_S.

    Raises InfrastructureError when the variable is set but is not a positive number.
    """
    raw = os.environ.get(LIFETIME_ENV, "").strip()
    if not raw:
        return CONTAINER_LIFETIME_S
    try:
        value = float(raw)
    except ValueError as e:
        raise InfrastructureError(f"{LIFETIME_ENV}={raw!r} is not a number of seconds") from e
    if not value > 0:
        raise InfrastructureError(f"{LIFETIME_ENV}={raw!r} must be more than 0 seconds")
    return value


def bounded_command(command: list[str], lifetime_s: float) -> list[str]:
    """`command` under coreutils timeout: SIGTERM after `lifetime_s`, SIGKILL KILL_AFTER_S later.

    GNU timeout passes on the SIGTERM and SIGINT it receives (from `docker kill` through
    Docker's init) to the command, so stopping a helper by signal works as without it.
    """
    return ["timeout", f"--kill-after={KILL_AFTER_S}", f"{lifetime_s:g}", *command]


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
            interrupts.wait_for(lambda: self.container.wait(timeout=timeout_s))
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
    volumes: RunVolumes | None = None
    """Where the containers' files are, removed by whoever made them. None: made here on
    first use, and removed with the run's other resources by labels.sweep(run_id=...)."""

    def __post_init__(self) -> None:
        if self.volumes is None:
            object.__setattr__(self, "volumes", RunVolumes(self.client, self.labels, self.image))

    @property
    def files(self) -> RunVolumes:
        """The run's volumes (see `volumes`)."""
        assert self.volumes is not None, "__post_init__ makes them"
        return self.volumes

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
        """Placement on the lab network, reachable as `alias`; names resolve as network.py says.

        Docker's embedded DNS answers the lab's names and asks the network's own name server
        about any other, which answers "no such name" at once, so a lookup never leaves the
        lab network. (Containers that share another's namespace share its DNS too: Docker
        refuses `dns=` with `network_mode="container:..."`.)
        """
        from grader.sandbox.network import name_server_address

        config = {}
        if alias:
            config = {self.network.name: self.client.api.create_endpoint_config(aliases=[alias])}
        return {
            "network": self.network.name,
            "networking_config": config or None,
            "dns": [name_server_address(self.network)],
        }

    def student_program(
        self,
        submission: Path,
        file: str,
        env: dict[str, str],
        alias: str | None,
        role: str,
        stdin: Input | None = None,
        *,
        listen: tuple[str, float] | None = None,
        stop_grace_s: float | None = None,
    ) -> Any:
        """Runs `python3 FILE` from the read-only submission, with every limit applied.

        `listen` is (protocol, timeout_s): the wrapper also watches for the program's
        listening socket (run_bounded.py's `listen` option; steps.wait_for_listen reads it).
        `stop_grace_s`: the wrapper kills a program still running this long (s) after it
        passed the grader's SIGTERM on (run_bounded.py's `stop_grace_s` option).

        `submission` is the staged copy on the grader's machine; the container reads it from a
        volume (RunVolumes.submission, put once per run), and `stdin`'s bytes from a volume of
        their own at STDIN_MOUNT (else the program reads /dev/null).

        The program runs as STUDENT_UID under run_bounded.py, which runs as root with only
        WRAPPER_CAPABILITIES and keeps a bounded record of the program's output and exit: the
        program cannot signal, trace or impersonate it. Everything in the container is
        stopped after container_lifetime_s().
        """
        wrapper = self.wrapper_options(file, listen=listen, stop_grace_s=stop_grace_s)
        volumes = self.student_volumes(submission)
        if stdin is not None:
            wrapper["stdin"] = STDIN_MOUNT
            volumes[self.files.input(stdin)] = {"bind": INPUT_MOUNT, "mode": "ro"}
        return started(
            self.client,
            self.limits.output_kb * 1024 * 4,
            command=["python3", "-s", RUN_BOUNDED_MOUNT, json.dumps(wrapper)],
            **self.student_container(env, alias, role, volumes),
        )

    def wrapper_options(
        self,
        file: str,
        *,
        listen: tuple[str, float] | None = None,
        stop_grace_s: float | None = None,
    ) -> dict[str, Any]:
        """run_bounded.py's options for `python3 FILE` (see student_program), without stdin."""
        wrapper: dict[str, Any] = {
            "argv": ["python3", file],
            "keep_bytes": self.limits.output_kb * 1024,
            "user": [STUDENT_UID, STUDENT_GID],
            "lifetime_s": container_lifetime_s(),
            "sweep": True,
            "cwd": SUBMISSION_MOUNT,
        }
        if stop_grace_s is not None:
            wrapper["stop_grace_s"] = stop_grace_s
        if listen is not None:
            wrapper["listen"] = {"protocol": listen[0], "timeout_s": listen[1]}
        return wrapper

    def student_volumes(self, submission: Path) -> dict[str, dict[str, str]]:
        """The submission (read-only) and the wrapper's volume, in the Docker SDK's form."""
        return {
            self.files.submission(submission): {"bind": SUBMISSION_MOUNT, "mode": "ro"},
            self.files.wrapper(): {"bind": WRAPPER_MOUNT, "mode": "ro"},
        }

    def student_container(
        self,
        env: dict[str, str],
        alias: str | None,
        role: str,
        volumes: dict[str, dict[str, str]],
    ) -> dict[str, Any]:
        """The create arguments (but the command) of a container for students' programs.

        Every limit of the lab's spec, read-only root, no capability but
        WRAPPER_CAPABILITIES (for run_bounded.py, root), a 16 MiB /tmp.
        """
        memory = f"{self.limits.memory_mb}m"
        return {
            "user": WRAPPER_USER,
            "cap_add": list(WRAPPER_CAPABILITIES),
            "working_dir": "/",  # the program enters SUBMISSION_MOUNT itself, as STUDENT_UID
            "volumes": volumes,
            "tmpfs": {"/tmp": "size=16m,mode=1777"},
            "environment": {
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
                "HOME": "/tmp",
                **env,
            },
            "mem_limit": memory,
            "memswap_limit": memory,
            "nano_cpus": int(self.limits.cpus * 1e9),
            "pids_limit": self.limits.pids,
            "ulimits": [
                docker.types.Ulimit(name="nofile", soft=256, hard=256),
                docker.types.Ulimit(name="fsize", soft=16 << 20, hard=16 << 20),
            ],
            **self._common(role),
            **self._on_network(alias),
        }

    def helper(
        self,
        script: str,
        argument: str,
        role: str,
        *,
        alias: str | None = None,
        share_network_of: Running | None = None,
        capabilities: tuple[str, ...] = (),
        payload: Input | None = None,
    ) -> Any:
        """Runs one of the grader's probe scripts: on the lab network, or inside a program's.

        The probes are at PROBES_MOUNT; `payload`'s bytes, if given, at PAYLOAD_MOUNT (too
        big for an argument).
        """
        volumes = {self.files.probes(): {"bind": PROBES_MOUNT, "mode": "ro"}}
        if payload is not None:
            volumes[self.files.input(payload)] = {"bind": INPUT_MOUNT, "mode": "ro"}
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
        """Runs a grader-owned command as root with only the capabilities it names.

        `volumes` maps names of the run's volumes (RunVolumes) to their mounts, in the Docker
        SDK's form ({"name": {"bind": "/path", "mode": "ro"}}).

        The command runs under coreutils timeout (bounded_command), so the container stops
        after container_lifetime_s() even if the grader that started it was killed, and on
        half a CPU.
        """
        placement = (
            {"network_mode": f"container:{share_network_of.id}"}
            if share_network_of is not None
            else self._on_network(alias)
        )
        return started(
            self.client,
            1 << 20,
            command=bounded_command(command, container_lifetime_s()),
            user="0:0",
            volumes=volumes or {},
            environment={"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"},
            cap_add=list(capabilities) or None,
            mem_limit="128m",
            memswap_limit="128m",
            nano_cpus=HELPER_NANO_CPUS,
            pids_limit=64,
            **self._common(role),
            **placement,
        )
