"""How the GitHub Actions runner reads workflow commands from a step's log, for tests.

Written from the runner's rules (actions/runner: src/Runner.Common/ActionCommand.cs and
src/Runner.Worker/ActionCommandManager.cs), stricter where they depend on .NET's
culture-aware matching:

- the log is split into lines at `\\r\\n`, `\\r` and `\\n`;
- a line is a command when, after leading whitespace, it starts with `::` and a second `::`
  follows (`::NAME props::data`), or when it holds `##[` with a `]` after it
  (`##[NAME props]data`), and NAME is a registered command, ignoring case;
- `stop-commands` with data TOKEN stops all processing until a command named TOKEN;
- here, characters a culture-aware comparison may ignore (format characters, combining
  marks, variation selectors) are removed before matching, so this finds every command the
  runner could find, and perhaps more.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

REGISTERED = frozenset(
    {
        "add-mask",
        "add-matcher",
        "add-path",
        "debug",
        "echo",
        "endgroup",
        "error",
        "group",
        "notice",
        "remove-matcher",
        "save-state",
        "set-env",
        "set-output",
        "stop-commands",
        "warning",
    }
)


def log_lines(text: str) -> list[str]:
    """The lines the runner reads from a step's output."""
    return re.split(r"\r\n|\r|\n", text)


IGNORED = frozenset("\u0640\u07fa\u180a\ufe73")
"""Printable characters ICU's root collation ignores entirely, besides the categories below."""


def _without_ignorable(line: str) -> str:
    return "".join(
        ch
        for ch in line
        if unicodedata.category(ch) not in ("Cf", "Mn", "Mc", "Me") and ch not in IGNORED
    )


def parse(line: str, registered: frozenset[str] | set[str]) -> tuple[str, str] | None:
    """(command name in lower case, data) if `line` is a command, else None."""
    text = _without_ignorable(line)
    stripped = text.lstrip()
    if stripped.startswith("::"):
        end = stripped.find("::", 2)
        if end >= 0:
            name = stripped[2:end].split(" ", 1)[0].lower()
            if name in registered:
                return name, stripped[end + 2 :]
    start = text.find("##[")
    if start >= 0:
        end = text.find("]", start)
        if end >= 0:
            name = text[start + 3 : end].split(" ", 1)[0].lower()
            if name in registered:
                return name, text[end + 1 :]
    return None


@dataclass
class Runner:
    """Feeds log text through the command processor; `processed` is what it acted on."""

    processed: list[tuple[str, str]] = field(default_factory=list)
    stop_token: str | None = None

    def feed(self, text: str) -> None:
        for line in log_lines(text):
            registered = set(REGISTERED) | ({self.stop_token} if self.stop_token else set())
            command = parse(line, registered)
            if command is None:
                continue
            name, data = command
            if self.stop_token is not None:
                if name == self.stop_token:
                    self.processed.append(command)
                    self.stop_token = None
                continue
            self.processed.append(command)
            if name == "stop-commands":
                self.stop_token = data.lower()
