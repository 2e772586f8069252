"""Reads a probe's options: its one JSON argument, or `@PATH` of a file that holds them.

The local backend passes a file (readable by root only): a command line is every user's to
read in /proc, and options name private paths and the inputs of hidden checks.
"""

from __future__ import annotations

import json
from typing import Any


def read(argument: str) -> dict[str, Any]:
    if argument.startswith("@"):
        with open(argument[1:], encoding="utf-8") as options:
            return dict(json.load(options))
    return dict(json.loads(argument))
