"""The temporary directories of a run: private, named after their owner, swept when it died.

Every directory is `socketlab-<pid>-<run id>-<purpose>-<random>` under the system's temporary
directory, mode 0o700, so only the grader's user reaches what is inside it. Containers never
mount anything from here (the engine may be on another machine): what they read is put into
the engine's volumes (grader.sandbox.volumes), and captures are read back into here.
A run that is killed cannot remove its directories; `sweep_stale` removes those whose
owner process is gone, as labels.sweep does for containers, and leaves live runs' alone.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from grader.sandbox.labels import process_is_gone

PREFIX = "socketlab-"
NAME = re.compile(r"^socketlab-(?P<pid>\d+)-(?P<run_id>[0-9a-f]+)-(?P<purpose>[a-z]+)-")


def _remove(path: Path) -> None:
    """Removes a tree; what cannot be removed now is left for the next sweep."""
    # Files a helper wrote as root sit in directories the grader's user owns (or may
    # write), so unlinking them needs no privilege.
    shutil.rmtree(path, ignore_errors=True)


@contextmanager
def run_directory(run_id: str, purpose: str, root: Path | None = None) -> Iterator[Path]:
    """A new directory, mode 0o700, named for this process and run; removed afterwards.

    `purpose` is a lowercase word (e.g. "run"); `root` defaults to tempfile.gettempdir().
    Raises OSError when the directory cannot be made.
    """
    if not re.fullmatch(r"[a-z]+", purpose) or not re.fullmatch(r"[0-9a-f]+", run_id):
        raise ValueError(f"run id {run_id!r} and purpose {purpose!r} must be hex and a-z")
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-{run_id}-{purpose}-", dir=root))
    try:
        path.chmod(0o700)  # mkdtemp makes it so already; said here because it matters
        yield path
    finally:
        _remove(path)


def sweep_stale(root: Path | None = None) -> int:
    """Removes run directories whose owner process has ended; returns how many.

    Only names of the form `socketlab-<pid>-<run id>-<purpose>-…` are considered, and only
    when no process with that pid runs on this host, so concurrent runs are left alone.
    `root` defaults to tempfile.gettempdir(). Never raises for a directory it cannot remove.
    """
    directory = Path(tempfile.gettempdir()) if root is None else root
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    for entry in entries:
        match = NAME.match(entry.name)
        if match is None or not entry.is_dir(follow_symlinks=False):
            continue
        if not process_is_gone(int(match["pid"])):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_uid != os.geteuid():
                continue  # another user's run: not ours to judge or remove
        except OSError:
            continue
        _remove(Path(entry.path))
        removed += not os.path.lexists(entry.path)
    return removed
