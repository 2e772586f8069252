"""The runtime image: built from python:3.12-slim where a registry answers, else from Debian.

Student programs, probes and helpers all run from this one image. It carries a label with
the hash of its recipe, so it is rebuilt only when the recipe changes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors

from grader import __version__
from grader.errors import ImageError

REPOSITORY = "socketlab-runtime"
BASE_REPOSITORY = "socketlab-base"
INPUTS_LABEL = "socketlab.image-inputs"
UPSTREAM = "python:3.12-slim"
PACKAGES = ("python3", "tcpdump", "iproute2")
TOOLS = ("tcpdump", "iproute2")

ONLINE_DOCKERFILE = f"""\
FROM {UPSTREAM}
RUN apt-get update \\
 && apt-get install -y --no-install-recommends {" ".join(TOOLS)} \\
 && rm -rf /var/lib/apt/lists/*
"""

Say = Callable[[str], None]


def runtime_image() -> str:
    """The image tag in use: SOCKETLAB_RUNTIME_IMAGE if set (to pin another build), else ours."""
    return os.environ.get("SOCKETLAB_RUNTIME_IMAGE") or f"{REPOSITORY}:{__version__}"


@dataclass(frozen=True)
class Recipe:
    """How the image is made; its hash decides whether an existing image is current."""

    path: str
    text: str

    @property
    def digest(self) -> str:
        material = json.dumps([__version__, self.path, self.text, PACKAGES]).encode()
        return hashlib.sha256(material).hexdigest()[:16]


def online_recipe() -> Recipe:
    return Recipe(path="python:3.12-slim", text=ONLINE_DOCKERFILE)


def offline_recipe() -> Recipe:
    return Recipe(path=f"debian {host_suite()} (mmdebstrap)", text=",".join(PACKAGES))


def host_suite() -> str:
    try:
        release = platform.freedesktop_os_release()
    except OSError as e:
        raise ImageError("cannot tell this system's Debian release (/etc/os-release)") from e
    suite = release.get("VERSION_CODENAME")
    if not suite:
        raise ImageError("this system's /etc/os-release names no release codename")
    return suite


def current_image(client: Any) -> Any | None:
    try:
        return client.images.get(runtime_image())
    except docker.errors.ImageNotFound:
        return None


def require_image(client: Any) -> str:
    """The runtime image's tag; ImageError when it was never built."""
    if current_image(client) is None:
        raise ImageError(
            f"the runtime image {runtime_image()} is missing.\n"
            "Hint: build it once with `socketlab image build` (or `make setup`)."
        )
    return runtime_image()


def build_image(client: Any, *, install_tools: bool = False, say: Say = print) -> str:
    """Builds the runtime image unless an up-to-date one exists; returns its tag."""
    existing = current_image(client)
    if existing is not None and existing.labels.get(INPUTS_LABEL) in {
        online_recipe().digest,
        _offline_digest_or_none(),
    }:
        say(f"runtime image {runtime_image()} is up to date")
        return runtime_image()
    if _upstream_available(client):
        say(f"building {runtime_image()} from {UPSTREAM}")
        _build_from_dockerfile(client, online_recipe(), ONLINE_DOCKERFILE)
    else:
        recipe = offline_recipe()
        say(
            f"no container registry reachable: building {runtime_image()} from this system's"
            f" Debian packages ({recipe.path})"
        )
        base = _bootstrap_base(client, recipe, install_tools=install_tools, say=say)
        _build_from_dockerfile(client, recipe, f'FROM {base}\nCMD ["python3"]\n')
    return runtime_image()


def _offline_digest_or_none() -> str | None:
    try:
        return offline_recipe().digest
    except ImageError:
        return None


def _upstream_available(client: Any) -> bool:
    try:
        client.images.get(UPSTREAM)
        return True
    except docker.errors.ImageNotFound:
        pass
    try:
        client.images.pull(UPSTREAM)
        return True
    except docker.errors.APIError:
        return False


def _build_from_dockerfile(client: Any, recipe: Recipe, dockerfile: str) -> None:
    try:
        client.images.build(
            fileobj=io.BytesIO(dockerfile.encode()),
            tag=runtime_image(),
            labels={INPUTS_LABEL: recipe.digest, "socketlab.image-path": recipe.path},
            rm=True,
            forcerm=True,
        )
    except (docker.errors.BuildError, docker.errors.APIError) as e:
        raise ImageError(f"building {runtime_image()} failed: {e}") from e


def _bootstrap_base(client: Any, recipe: Recipe, *, install_tools: bool, say: Say) -> str:
    base = f"{BASE_REPOSITORY}:{recipe.digest}"
    try:
        client.images.get(base)
        return base
    except docker.errors.ImageNotFound:
        pass
    mmdebstrap = _find_mmdebstrap(install_tools=install_tools, say=say)
    with tempfile.TemporaryDirectory(prefix="socketlab-image-") as workdir:
        tarball = Path(workdir) / "rootfs.tar"
        command = [
            mmdebstrap,
            "--quiet",
            "--variant=apt",
            f"--include={','.join(PACKAGES)}",
            host_suite(),
            str(tarball),
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ImageError(
                f"mmdebstrap failed (status {result.returncode}):\n{result.stderr[-2000:]}"
            )
        repository, tag = base.split(":")
        try:
            client.api.import_image_from_file(str(tarball), repository=repository, tag=tag)
        except docker.errors.APIError as e:
            raise ImageError(f"docker import of the Debian base failed: {e}") from e
    return base


def _find_mmdebstrap(*, install_tools: bool, say: Say) -> str:
    found = shutil.which("mmdebstrap")
    if found:
        return found
    can_install = os.geteuid() == 0 and shutil.which("apt-get") is not None
    if install_tools and can_install:
        say("installing mmdebstrap with apt-get")
        for command in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "mmdebstrap"],
        ):
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            )
            if result.returncode != 0:
                raise ImageError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
        found = shutil.which("mmdebstrap")
        if found:
            return found
    raise ImageError(
        "no container registry is reachable and mmdebstrap is not installed, so the runtime"
        " image cannot be built.\nHint: install mmdebstrap (`sudo apt-get install mmdebstrap`"
        " on Debian or Ubuntu), or make python:3.12-slim available to Docker."
    )
