"""socketlab's grader: runs students' socket programs in Docker and scores what they do."""

from __future__ import annotations

__version__ = "0.1.0"
