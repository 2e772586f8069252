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

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


class SocketlabError(Exception):
    """Base of every error socketlab raises on purpose."""


@dataclass(frozen=True)
class SpecProblem:
    """One mistake in a spec file: the file, the line (from 1) and the field path, e.g.
    `checks[1].expect`; an empty field is the file as a whole."""

    path: Path
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        at = f" at {self.field}" if self.field else ""
        return f"{where}: {self.message}{at}"


class SpecError(SocketlabError):
    """A spec file could not be loaded: every problem found in it, one per line of the message.

    `path`, `line`, `field` and `message` are those of the first problem; `problems` has all.
    """

    def __init__(
        self,
        path: Path,
        line: int | None,
        field: str,
        message: str,
        *,
        more: Sequence[SpecProblem] = (),
    ) -> None:
        self.problems = (SpecProblem(path, line, field, message), *more)
        self.path = path
        self.line = line
        self.field = field
        self.message = message
        super().__init__("\n".join(str(problem) for problem in self.problems))

    @classmethod
    def of(cls, problems: Sequence[SpecProblem]) -> SpecError:
        """The error for `problems` (at least one), which keep their order."""
        first, *more = problems
        return cls(first.path, first.line, first.field, first.message, more=more)


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


def with_output(message: str, stderr: bytes, limit: int = 2000) -> str:
    """`message`, then the last `limit` characters of what a grader helper wrote on stderr.

    A helper that wrote nothing gets `(it wrote nothing on stderr)` after the message instead,
    so an error never ends in a dangling colon (in a gradebook's status, for one).
    """
    text = stderr.decode("utf-8", "replace").strip()
    if not text:
        return f"{message} (it wrote nothing on stderr)"
    return f"{message}:\n{text[-limit:]}"
