"""The exceptions socketlab raises, and when.

    SocketlabError
    ├── SpecError               a lab's spec.yaml is malformed (file, line and field named)
    ├── LabNotFoundError        a LAB argument names no lab directory
    └── InfrastructureError     Docker or the runtime image failed: never the student's fault
        ├── DockerUnavailableError  the engine cannot be reached
        │   └── EngineLostError     ... after it had answered: it went away mid-run
        ├── ImageError              the runtime image is missing or cannot be built
        └── GraderBugError          the grader itself failed while running a submission

An InfrastructureError must never turn into a score: the command line exits with status 2.
Anything a submission does wrong is an observation, not an exception; a bug in one check's
judging code marks that check `error` and is no InfrastructureError (see grader.plugin).
"""

from __future__ import annotations

from pathlib import Path


class SocketlabError(Exception):
    """Base of every error socketlab raises on purpose."""


class SpecError(SocketlabError):
    """A spec.yaml could not be loaded: names the file, the line and the field path."""

    def __init__(self, path: Path, line: int | None, field: str, message: str) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.message = message
        where = f"{path}:{line}" if line is not None else str(path)
        at = f" at {field}" if field else ""
        super().__init__(f"{where}: {message}{at}")


class LabNotFoundError(SocketlabError):
    """Raised when a LAB argument is neither a lab id under labs/ nor a lab directory."""


class InfrastructureError(SocketlabError):
    """Docker, the network or the runtime image failed; the submission is not to blame."""


class DockerUnavailableError(InfrastructureError):
    """Raised when the Docker engine cannot be reached."""


class EngineLostError(DockerUnavailableError):
    """Raised when the Docker engine stops answering after it had answered in this process."""


class ImageError(InfrastructureError):
    """Raised when the runtime image is missing or cannot be built."""


class GraderBugError(InfrastructureError):
    """Raised when the grader's own code failed while observing a submission.

    Only that submission is left ungraded: the engine still answers, so a batch goes on.
    """
