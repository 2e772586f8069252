"""Submission names as text that any terminal, CSV reader or file system accepts."""

from __future__ import annotations

import os


def printable(name: str) -> str:
    """`name` with bytes that are not UTF-8 and unprintable characters as backslash escapes.

    A folder name read from the file system may hold bytes that are not UTF-8 (Python keeps
    them as lone surrogates, e.g. b'stud\\xe9nt' -> 'stud\\udce9nt'), which no UTF-8 writer
    accepts; they come out as `\\xe9`. A newline or tab becomes `\\n`, `\\t`.
    """
    try:
        raw = os.fsencode(name)
    except UnicodeEncodeError:  # a surrogate that no file-system name decodes to
        raw = name.encode("utf-8", errors="backslashreplace")
    text = raw.decode("utf-8", errors="backslashreplace")
    return "".join(
        character if character.isprintable() else character.encode("unicode_escape").decode()
        for character in text
    )


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
"""What makes a spreadsheet (Excel, LibreOffice, Google Sheets) read a CSV cell as a formula,
full-width forms included."""


def spreadsheet_text(text: str) -> str:
    """`text` for a CSV cell that a spreadsheet shows as text, never runs as a formula.

    A cell that starts like a formula (`=HYPERLINK(...)`, `+`, `-`, `@`) gets a leading `'`,
    which spreadsheets read as "this is text" (OWASP's advice on CSV injection). Numbers
    the grader writes are left as they are.
    """
    if text.startswith(FORMULA_STARTS) and not _number(text):
        return "'" + text
    return text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
