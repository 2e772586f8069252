"""A private, world-readable copy of one submission, so containers see only its own files."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MAX_TOTAL_BYTES = 20 << 20
SKIPPED_DIRS = {".git", "__pycache__", ".venv", "venv", "node_modules", ".mypy_cache"}


@contextmanager
def staged_submission(submission: Path) -> Iterator[Path]:
    """Copies regular files (no links, no VCS or cache folders) into a temporary directory.

    The copy is readable by the unprivileged user the programs run as, whatever the
    permissions of the original, and is removed afterwards.
    """
    with tempfile.TemporaryDirectory(prefix="socketlab-submission-") as workdir:
        target = Path(workdir) / "submission"
        target.mkdir()
        total = 0
        for root, dirs, files in os.walk(submission, followlinks=False):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
            relative = Path(root).relative_to(submission)
            for name in sorted(files):
                source = Path(root) / name
                if source.is_symlink() or not source.is_file():
                    continue
                total += source.stat().st_size
                if total > MAX_TOTAL_BYTES:
                    break
                destination = target / relative / name
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, destination)
                destination.chmod(0o644)
        for directory in [target, *(p for p in target.rglob("*") if p.is_dir())]:
            directory.chmod(0o755)
        Path(workdir).chmod(0o755)
        yield target
