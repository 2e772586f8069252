"""Files for containers, moved through the engine's API into volumes the engine owns.

The grader and the Docker engine need not share a file system: DOCKER_HOST may name an engine
on another machine (tcp://, ssh://), or the grader may run in a container of its own. A bind
mount names a path on the engine's machine, so bind-mounting the grader's files would mount
whatever the engine has there -- usually an empty directory it makes itself. So every file a
container reads is put into a named volume with the archive API (`put_archive`): the staged
submission, run_bounded.py, the probes, a program's stdin, a peer's payload. A volume is
filled through a filler container that is created, never started, and removed at once (the
engine copies into the volumes it mounts even then); the containers that read the files
mount the volume read-only. Captures go the other way: the capture helper writes into the
run's captures volume, and the grader reads the pcap back from the stopped helper with
`get_archive`, bounded in size.

Docker 20.10 mounts a volume whole (no subpath), so each kind of content has a volume of its
own, and a container mounts only what it needs: a student's program sees its submission,
run_bounded.py and at most its own stdin, never the probes, another input or another run's
files. Everything that is filled for a submission is filled once: `prepare` puts the
submission, the wrapper and the probes with one filler; an input is put once per distinct
content, when a scenario first needs it.

Every volume and filler carries the run's labels (grader.sandbox.labels): RunVolumes removes
its volumes on exit, and labels.sweep removes those of runs that died.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import docker.errors

from grader.errors import InfrastructureError
from grader.sandbox.labels import RunLabels
from grader.spec.model import Input

PROBES_DIR = Path(__file__).resolve().parent.parent / "probes"
RUN_BOUNDED = PROBES_DIR / "run_bounded.py"
LISTEN_WATCH = PROBES_DIR / "listen_watch.py"
PROBE_OPTIONS = PROBES_DIR / "probe_options.py"
"""Imported by run_bounded.py for its `listen` option: in the wrapper's volume beside it."""
INPUT_FILE = "data"
"""The name of the one file in an input volume."""
FILL_ROOT = "/fill"
FILLER_ROLE = "files"
CONTENT_LABEL = "socketlab.content"
"""On each volume: what it holds ("submission", "wrapper", "probes", "input", "captures")."""
SPOOL_BYTES = 4 << 20
"""An archive to put is kept in memory up to this size, then in a temporary file."""
ARCHIVE_SLACK_BYTES = 64 << 10
"""What a tar stream of one file adds to the file's size: headers and padding, with room."""


@dataclass(frozen=True)
class _Content:
    """What goes into one volume: (path inside it, bytes or a local file to read) pairs."""

    kind: str
    files: tuple[tuple[str, bytes | Path], ...]
    directories: tuple[str, ...] = ()
    private: bool = False
    """Files readable by root only (0o600): the wrappers and peers, never a student's program."""


def _probe_files() -> _Content:
    return _Content("probes", tuple((path.name, path) for path in sorted(PROBES_DIR.glob("*.py"))))


def _wrapper_files() -> _Content:
    files = (RUN_BOUNDED, LISTEN_WATCH, PROBE_OPTIONS)
    return _Content("wrapper", tuple((path.name, path) for path in files))


def _tree_files(staged: Path) -> _Content:
    """The regular files and folders below `staged` (a staged copy: nothing else is in it)."""
    files: list[tuple[str, bytes | Path]] = []
    directories: list[str] = []
    for path in sorted(staged.rglob("*")):
        relative = path.relative_to(staged).as_posix()
        if path.is_symlink():
            continue
        if path.is_dir():
            directories.append(relative)
        elif path.is_file():
            files.append((relative, path))
    return _Content("submission", tuple(files), tuple(directories))


def _add(
    tar: tarfile.TarFile,
    name: str,
    *,
    data: bytes | None = None,
    private: bool = False,
    mode: int = 0o755,
) -> None:
    """Adds a root-owned folder (data None, `mode`) or file (0o644; private: 0o600)."""
    entry = tarfile.TarInfo(name)
    entry.uid = entry.gid = 0
    if data is None:
        entry.type = tarfile.DIRTYPE
        entry.mode = mode
        tar.addfile(entry)
    else:
        entry.mode = 0o600 if private else 0o644
        entry.size = len(data)
        tar.addfile(entry, io.BytesIO(data))


def _archive(contents: dict[str, _Content], buffer: IO[bytes]) -> None:
    """Writes one tar of every content, each under its own top folder (its volume's mount)."""
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for top, content in contents.items():
            # The top folder is the volume itself: 0o755, so the programs' user can list it;
            # 0o700 for private content, whose files' sizes are not the programs' to see.
            _add(tar, top, mode=0o700 if content.private else 0o755)
            for directory in content.directories:
                _add(tar, f"{top}/{directory}")
            for relative, source in content.files:
                data = source.read_bytes() if isinstance(source, Path) else source
                _add(tar, f"{top}/{relative}", data=data, private=content.private)
    buffer.seek(0)


class RunVolumes:
    """The volumes of one run: made and filled on first use, removed together on exit.

    Each method returns the name of a volume to mount read-only (`captures()`: read-write,
    for the capture helper alone). Raises InfrastructureError when the engine refuses to
    make or fill a volume.
    """

    def __init__(self, client: Any, labels: RunLabels, image: str) -> None:
        self.client = client
        self.labels = labels
        self.image = image
        self._names: dict[str, str] = {}
        """A content's key ("probes", "input:<digest>", "submission:<path>") -> its volume."""
        self._created: list[str] = []
        self._input_sizes: dict[str, int] = {}

    def __enter__(self) -> RunVolumes:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def prepare(self, staged: Path, inputs: Iterable[Input] = ()) -> None:
        """Fills the volumes a submission's grading needs with one filler container.

        `staged` is the staged submission; `inputs` are the stdin and payloads its scenarios
        are expected to need (each gets its own volume; one needed later is put then).
        """
        wanted: dict[str, Callable[[], _Content]] = {
            "probes": _probe_files,
            "wrapper": _wrapper_files,
            f"submission:{staged}": lambda: _tree_files(staged),
        }
        for data in inputs:
            wanted[f"input:{data.digest()}"] = self._input_content(data)
        self._fill({key: make() for key, make in wanted.items() if key not in self._names})

    def probes(self) -> str:
        """The grader's probe scripts (grader/probes/*.py), for its helpers at /probes."""
        return self._filled("probes", _probe_files)

    def wrapper(self) -> str:
        """run_bounded.py and the modules it imports (listen_watch.py, probe_options.py), for
        student containers."""
        return self._filled("wrapper", _wrapper_files)

    def submission(self, staged: Path) -> str:
        """A copy of the staged submission `staged` (a folder on the grader's machine)."""
        return self._filled(f"submission:{staged}", lambda: _tree_files(staged))

    def input(self, data: Input) -> str:
        """The bytes `data` describes, as the file INPUT_FILE, put once per distinct input."""
        return self._filled(f"input:{data.digest()}", self._input_content(data))

    def _input_content(self, data: Input) -> Callable[[], _Content]:
        def built() -> _Content:
            content = data.build()
            self._input_sizes[data.digest()] = len(content)
            # Private: a student's container may mount every input of the lab (its programs'
            # stdin, opened by the root wrapper), hidden checks' among them; the program
            # itself reads only the one it is given.
            return _Content("input", ((INPUT_FILE, content),), private=True)

        return built

    def input_size_bytes(self, data: Input) -> int:
        """How many bytes `data` describes, as put by `input` (which this calls if need be)."""
        self.input(data)
        return self._input_sizes[data.digest()]

    def captures(self) -> str:
        """The run's captures, written by capture helpers; starts empty."""
        key = "captures"
        if key not in self._names:
            self._names[key] = self._create("captures")
        return self._names[key]

    def _filled(self, key: str, make: Callable[[], _Content]) -> str:
        if key not in self._names:
            self._fill({key: make()})
        return self._names[key]

    def _create(self, kind: str) -> str:
        name = f"socketlab-{self.labels.run_id}-{kind}-{len(self._created) + 1}"
        try:
            self.client.volumes.create(name, labels={**self.labels.as_dict(), CONTENT_LABEL: kind})
        except docker.errors.APIError as e:
            raise InfrastructureError(f"cannot create the volume {name}: {e}") from e
        self._created.append(name)
        return name

    def _fill(self, contents: dict[str, _Content]) -> None:
        """Makes a volume for each content and puts them all in with one filler container."""
        if not contents:
            return
        names = {key: self._create(content.kind) for key, content in contents.items()}
        tops = {f"v{index}": key for index, key in enumerate(contents)}
        mounts = {
            names[key]: {"bind": f"{FILL_ROOT}/{top}", "mode": "rw"} for top, key in tops.items()
        }
        try:
            filler = self.client.containers.create(
                self.image,
                ["true"],  # never started: the engine fills mounted volumes of any container
                labels={**self.labels.as_dict(), "socketlab.role": FILLER_ROLE},
                volumes=mounts,
                network_mode="none",
            )
        except docker.errors.APIError as e:
            raise InfrastructureError(f"cannot create a container to fill volumes: {e}") from e
        try:
            # Spooled: a lab's inputs may add up to tens of MB (two 8 MiB echo payloads).
            with tempfile.SpooledTemporaryFile(SPOOL_BYTES) as archive:
                _archive({top: contents[key] for top, key in tops.items()}, archive)
                if not filler.put_archive(FILL_ROOT, archive):
                    raise InfrastructureError("the engine did not take the files for the volumes")
        except docker.errors.APIError as e:
            raise InfrastructureError(f"cannot put files into the volumes: {e}") from e
        finally:
            with suppress(docker.errors.NotFound):
                filler.remove(force=True)
        self._names.update(names)

    def close(self) -> None:
        """Removes every volume this run made; one still in use is left to labels.sweep."""
        created, self._created = self._created, []
        self._names.clear()
        for name in created:
            try:
                self.client.api.remove_volume(name, force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as e:
                if "in use" not in str(e):  # a container being removed still holds it
                    raise


def read_file(container: Any, path: str, limit_bytes: int) -> bytes | None:
    """The file `path` of `container` (running or stopped), through the engine's archive API.

    None when there is no such file. Reads at most `limit_bytes` of it plus
    ARCHIVE_SLACK_BYTES of tar stream; raises InfrastructureError when the file is larger or
    is not a regular file.
    """
    try:
        stream, stat = container.get_archive(path)
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as e:
        raise InfrastructureError(f"cannot read {path} from a container: {e}") from e
    size = int(stat.get("size", 0))
    if size > limit_bytes:
        raise InfrastructureError(f"{path} is {size} bytes, more than the {limit_bytes} expected")
    archive = _bounded(stream, limit_bytes + ARCHIVE_SLACK_BYTES)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        member = tar.next()
        extracted = tar.extractfile(member) if member is not None and member.isfile() else None
        if extracted is None:
            raise InfrastructureError(f"{path} in the container is not a regular file")
        return extracted.read(limit_bytes)


def _bounded(chunks: Iterable[bytes], limit_bytes: int) -> bytes:
    """The stream's bytes; raises InfrastructureError past `limit_bytes`."""
    parts: list[bytes] = []
    total = 0
    iterator: Iterator[bytes] = iter(chunks)
    for chunk in iterator:
        total += len(chunk)
        if total > limit_bytes:
            with suppress(Exception):
                iterator.close()  # type: ignore[attr-defined]
            raise InfrastructureError(f"an archive from the engine exceeded {limit_bytes} bytes")
        parts.append(chunk)
    return b"".join(parts)
