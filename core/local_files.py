"""Writing the local backend's own files, never through a symbolic link.

A link planted in the local folder (notifications.jsonl -> ~/.bashrc) would make every notice an append
to whatever it points at; the local backend writes only regular files it owns, so a link is refused with
an error naming it, and appends open the file with O_NOFOLLOW so a link made after the check is refused too.
"""

from __future__ import annotations

import os
from pathlib import Path


class LinkedFile(OSError):
    """A local file the canary would write is a symbolic link."""


def refuse_link(path: Path) -> None:
    """Raise LinkedFile when `path` is a symbolic link (dangling or not)."""
    if path.is_symlink():
        raise LinkedFile(
            f"{path} is a symbolic link (to {os.readlink(path)}): the local backend writes only its own regular "
            "files; remove the link"
        )


def append_text(path: Path, text: str) -> int:
    """Append `text` (UTF-8) to `path`, created if absent, never through a link; the offset it was written at."""
    refuse_link(path)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as error:
        if path.is_symlink():
            refuse_link(path)
        raise error
    with os.fdopen(descriptor, "a", encoding="utf-8") as out:
        offset = out.tell()
        out.write(text)
    return offset


def write_text(path: Path, text: str) -> None:
    """Write (replace) `path` with `text` (UTF-8), never through a link."""
    refuse_link(path)
    path.write_text(text, encoding="utf-8")
