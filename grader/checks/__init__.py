"""The check kinds a spec can use: one module each, found by name.

A module here that defines `KIND = CheckKind(...)` adds a kind; no registry to edit.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from grader.checks.base import CheckKind, Verdict

__all__ = ["CheckKind", "Verdict", "check_kinds"]

_NOT_KINDS = {"base", "diagnosis"}


@cache
def check_kinds() -> dict[str, CheckKind[object]]:
    kinds: dict[str, CheckKind[object]] = {}
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name in _NOT_KINDS:
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        kind = getattr(module, "KIND", None)
        if isinstance(kind, CheckKind):
            kinds[kind.name] = kind
    return kinds
