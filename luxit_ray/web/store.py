"""Durable storage for the web apps (no web framework here: the arena's report reads it too).

:class:`AppendLog` is an append-only JSONL file; ``append`` returns only once the line is on disk
(``fsync``), under a thread lock and an ``flock``, so two servers (or two reviewers on one
server) never interleave lines. A server killed mid-write leaves at most a torn last line, which
readers skip and the next append starts after. :func:`write_atomic` replaces a file through a
fsync'd temporary file, so a reader sees the old or the new content, never a mix.
:func:`check_name` vets the reviewer and voter names that become part of file names.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
import threading
import unicodedata
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_NAME = 40


class ApiError(Exception):
    """A request the app refuses: becomes ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# ==== storage ===========================================================================


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AppendLog:
    """An append-only JSONL file whose every append is durable before it returns.

    Args:
        path: the file (created with its folder on the first append).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as one line, flushed and fsync'd."""
        line = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        with self._lock:
            new = not self.path.exists()
            if new:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                size = os.fstat(fd).st_size
                # A torn last line (killed mid-write) must not swallow this record.
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)  # releases the flock
            if new:
                _fsync_dir(self.path.parent)

    def read(self) -> tuple[list[dict[str, Any]], int]:
        """All records in file order and the number of unreadable (torn) lines skipped."""
        if not self.path.is_file():
            return [], 0
        records, torn = [], 0
        with self.path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    torn += 1
                    continue
                if isinstance(obj, dict):
                    records.append(obj)
                else:
                    torn += 1
        if torn:
            log.warning("%s: skipped %d unreadable line(s) (a server killed mid-write)", self.path, torn)
        return records, torn


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (temporary file, fsync, rename, fsync of the folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def check_name(name: Any, what: str = "name") -> str:
    """A reviewer's or voter's name: 1-40 letters, digits, '.', '_' or '-', starting with a letter
    or digit (so it is safe inside a file name). Returns it NFC-normalised and case-folded: "Anne"
    and "anne" are one person, with one file even on a case-insensitive disk.

    Raises:
        ApiError: 400 naming the problem.
    """
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, f"{what} is missing")
    name = unicodedata.normalize("NFC", unicodedata.normalize("NFC", name.strip()).casefold())
    if len(name) > MAX_NAME:
        raise ApiError(400, f"{what} is longer than {MAX_NAME} characters")
    if not name[0].isalnum() or not all(c.isalnum() or c in "._-" for c in name):
        raise ApiError(400, f"{what} {name!r} may hold only letters, digits, '.', '_' and '-' (starting with a letter or digit)")
    return name


# What the start page's name field accepts (the browser checks it before sending).
NAME_PATTERN = r"[\p{L}\p{N}][\p{L}\p{N}._\-]{0,39}"
