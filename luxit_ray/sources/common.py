"""Pieces shared by the corpus readers: file lists, bad-input policy, row building, dates.

Every reader yields plain dicts with the columns of :data:`luxit_ray.schema.REJECT_SCHEMA`.
A good row has ``drop_filter``/``drop_reason`` null; a row the reader already knows is out
has ``drop_filter`` ``"type"`` (a news comment), ``"redirect"`` or ``"namespace"`` (a wiki
page), so every record read is a row and is counted; a bad record becomes ``drop_filter="input"`` with a
reason naming file, position and problem (quarantine), or raises
:class:`~luxit_ray.errors.InputError` (fail).
"""

from __future__ import annotations

import bz2
import codecs
import datetime as dt
import glob
import gzip
import hashlib
import json
import logging
import lzma
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from luxit_ray import schema
from luxit_ray.errors import InputError

log = logging.getLogger(__name__)

INPUT_FILTER = "input"  # drop_filter of a quarantined bad record
TYPE_FILTER = "type"  # drop_filter of a news row whose `type` is not included
REDIRECT_FILTER = "redirect"  # drop_filter of a wiki redirect page
NAMESPACE_FILTER = "namespace"  # drop_filter of a wiki page outside the configured namespaces
# The drop_filter values the readers set, in the order they are counted (before FILTER_ORDER).
READER_FILTERS: tuple[str, ...] = (INPUT_FILTER, TYPE_FILTER, REDIRECT_FILTER, NAMESPACE_FILTER)

# Errors a decompressing reader raises on truncated or corrupt data.
DECOMPRESS_ERRORS: tuple[type[BaseException], ...] = (EOFError, OSError, lzma.LZMAError)


def expand_paths(pattern: str) -> list[str]:
    """Files matching a path or glob, sorted; InputError when nothing matches."""
    expanded = os.path.expanduser(pattern)
    if any(ch in expanded for ch in "*?["):
        files = sorted(p for p in glob.glob(expanded, recursive=True) if os.path.isfile(p))
    else:
        files = [expanded] if os.path.isfile(expanded) else []
    if not files:
        raise InputError(pattern, "", "no such file (or no file matches the pattern)")
    # Absolute, because read tasks may run in another working directory (a submitted job's
    # workers on other nodes) than the driver that expanded the pattern.
    return [os.path.abspath(f) for f in files]


def open_binary(path: str) -> IO[bytes]:
    """Open a file for binary reading, decompressing .bz2/.gz/.xz by extension."""
    if path.endswith(".bz2"):
        return bz2.open(path, "rb")
    if path.endswith(".gz"):
        return gzip.open(path, "rb")
    if path.endswith(".xz"):
        return lzma.open(path, "rb")
    return open(path, "rb")  # noqa: SIM115 - the caller closes it


def decompress_reason(exc: BaseException) -> str:
    """Human wording of a decompression failure."""
    if isinstance(exc, EOFError):
        return f"truncated compressed file ({exc})"
    return f"corrupt data ({exc})"


def content_hash(text: str) -> str:
    """A short stable hash of a text (sha256, 16 hex digits)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


_POSITION = re.compile(r"^(?:line|item|row|page) (\d+)")


def file_labels(files: Sequence[str]) -> dict[str, str]:
    """A short name per file, unique within one source: its base name, or, when two files
    share a base name, its path below the folder that holds them all."""
    names = [Path(f).name for f in files]
    if len(set(names)) == len(names):
        return dict(zip(files, names, strict=True))
    root = os.path.commonpath([os.path.dirname(f) for f in files])
    return {f: os.path.relpath(f, root) for f in files}


def position_id(source: str, label: str, where: str) -> str:
    """The doc id of a record without a native id: source, file and position in the file.

    ``where`` is the reader's position (``line 17``, ``item 3 (line 19)``, ``row 5``); its
    number is zero-padded so that ids sort in file order (among exact duplicates the smallest
    doc id is kept, so the first copy in the file stays). The id does not depend on the text,
    so exact duplicates get distinct ids and the dedup filter drops them with a reason naming
    the copy kept, and it is the same on every rerun and any cluster size (one read task reads
    one file from its start).
    """
    m = _POSITION.match(where)
    return f"{source}:{label}:{int(m.group(1)):08d}" if m else f"{source}:{label}:{where}"


def origin_sort_key(origin: str | None) -> tuple[str, int, str]:
    """Orders origins (``<file>:<where>``) by file, then by the position number in the file."""
    label, _, where = (origin or "").rpartition(":")
    m = _POSITION.match(where)
    return (label, int(m.group(1)) if m else -1, where)


def iso_date(value: Any) -> str | None:
    """ISO 8601 form of a date/time string ("2023-05-14 08:32:00" -> "2023-05-14T08:32:00").

    Returns None when the value is missing or not a recognisable date (the raw value stays in
    the row's metadata, so nothing is lost).
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    text = str(value).strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text).isoformat()
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
    except ValueError:
        return None


def document_row(
    *,
    doc_id: str,
    source: str,
    source_type: str,
    text: str | None,
    title: str | None = None,
    date: str | None = None,
    url: str | None = None,
    page_kind: str | None = None,
    metadata: dict[str, Any] | None = None,
    origin: str | None = None,
    drop_filter: str | None = None,
    drop_reason: str | None = None,
) -> dict[str, Any]:
    """One output row with every REJECT_SCHEMA column."""
    return {
        schema.DOC_ID: doc_id,
        schema.SOURCE: source,
        schema.SOURCE_TYPE: source_type,
        schema.TITLE: title,
        schema.TEXT: text,
        schema.DATE: date,
        schema.URL: url,
        schema.PAGE_KIND: page_kind,
        schema.METADATA: json.dumps(metadata, ensure_ascii=False, default=str) if metadata is not None else None,
        schema.ORIGIN: origin,
        schema.DROP_FILTER: drop_filter,
        schema.DROP_REASON: drop_reason,
    }


class BadInput:
    """Applies the ``on_bad_input`` policy for one file.

    ``fail`` raises InputError at once; ``quarantine`` returns the reason that goes into the
    quarantine row's ``drop_reason`` (``"<file name>:<where>: <reason>"``) and counts it.

    Args:
        path: the file being read (named in errors).
        policy: ``"fail"`` or ``"quarantine"``.
        name: the file's label in origins and reasons (see :func:`file_labels`); default its
            base name.
    """

    def __init__(self, path: str, policy: str, name: str | None = None) -> None:
        if policy not in ("fail", "quarantine"):
            raise ValueError(f"on_bad_input must be 'fail' or 'quarantine', got {policy!r}")
        self.path = path
        self.name = name or Path(path).name
        self.policy = policy
        self.count = 0

    def __call__(self, where: str, reason: str) -> str:
        """Raise (fail) or return the quarantine reason (quarantine)."""
        if self.policy == "fail":
            raise InputError(self.path, where, reason)
        self.count += 1
        log.warning("quarantined bad input %s:%s: %s", self.path, where, reason)
        return f"{self.name}:{where}: {reason}"

    def origin(self, where: str) -> str:
        """The ``origin`` value of a row read at ``where``."""
        return f"{self.name}:{where}"


def quarantine_row(
    bad: BadInput, where: str, reason: str, *, source: str, source_type: str, **fields: Any
) -> dict[str, Any]:
    """A quarantine row (after :class:`BadInput` allowed it): doc_id falls back to the position."""
    drop_reason = bad(where, reason)
    doc_id = fields.pop("doc_id", None) or f"{source}:{INPUT_FILTER}:{bad.name}:{where}"
    fields.setdefault("text", None)
    return document_row(
        doc_id=doc_id,
        source=source,
        source_type=source_type,
        origin=bad.origin(where),
        drop_filter=INPUT_FILTER,
        drop_reason=drop_reason,
        **fields,
    )


def iter_json_lines(path: str, bad: BadInput) -> Iterator[tuple[str, Any, str | None]]:
    """``(where, value, problem)`` for every non-blank line of a JSON-lines file.

    ``value`` is the parsed JSON (or, for a line with invalid UTF-8, what could be parsed
    after replacing the bad bytes, else None); ``problem`` is None for a clean line.
    """
    with open_binary(path) as fh:
        lineno = 0
        while True:
            try:
                raw = fh.readline()
            except DECOMPRESS_ERRORS as exc:
                yield f"line {lineno + 1}", None, decompress_reason(exc)
                return
            if not raw:
                return
            lineno += 1
            where = f"line {lineno}"
            if not raw.strip():
                continue
            problem = None
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                problem = f"invalid UTF-8 ({exc.reason} at byte {exc.start} of the line)"
                line = raw.decode("utf-8", errors="replace")
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                if problem is None:
                    problem = f"malformed JSON ({exc.msg} at column {exc.colno})"
                value = None
            yield where, value, problem


def iter_json_array(path: str, bad: BadInput, chunk_chars: int = 1 << 20) -> Iterator[tuple[str, Any, str | None]]:
    """``(where, item, problem)`` for every item of a top-level JSON array, streamed.

    The file is decoded in chunks and items are cut off one by one with
    ``json.JSONDecoder.raw_decode``, so memory holds one chunk and one item, not the file.
    ``where`` is ``"item N (line L)"``. A syntax error or invalid UTF-8 ends the file (the rest
    cannot be resynchronised) with one problem record.
    """
    decoder = json.JSONDecoder()
    reader = _CharReader(path, chunk_chars)
    try:
        first = reader.skip_ws()
        if first == "":
            return
        if first != "[":
            yield "line 1", None, "expected a JSON array (or use .jsonl for JSON lines)"
            return
        reader.pos += 1
        index = 0
        while True:
            ch = reader.skip_ws()
            if ch == "]":
                return
            if index > 0:
                if ch != ",":
                    yield reader.where(), None, f"malformed JSON (expected ',' or ']' at {reader.where()})"
                    return
                reader.pos += 1
                ch = reader.skip_ws()
            if ch == "":
                yield reader.where(), None, "malformed JSON (the array is not closed: file ends early)"
                return
            index += 1
            item_where = f"item {index} ({reader.where()})"
            while True:
                try:
                    item, end = decoder.raw_decode(reader.buf, reader.pos)
                    if end < len(reader.buf) or reader.eof:
                        break
                    reader.fill()  # a number or literal may continue in the next chunk
                except json.JSONDecodeError as exc:
                    if reader.eof:
                        if reader.error is not None:
                            raise reader.error from None
                        yield item_where, None, f"malformed JSON ({exc.msg})"
                        return
                    reader.fill()
            reader.advance(end)
            yield item_where, item, None
    except _Utf8Error as exc:
        yield exc.where, None, exc.reason
    except DECOMPRESS_ERRORS as exc:
        yield reader.where(), None, decompress_reason(exc)
    finally:
        reader.close()


class _Utf8Error(Exception):
    def __init__(self, where: str, reason: str) -> None:
        super().__init__(reason)
        self.where = where
        self.reason = reason


class _CharReader:
    """A growing text window over a binary file (strict UTF-8), tracking line numbers."""

    def __init__(self, path: str, chunk_chars: int) -> None:
        self.fh = open_binary(path)
        self.chunk = chunk_chars
        self.buf = ""
        self.pos = 0
        self.line = 1  # line number at buf[0]
        self.pending = b""  # undecoded bytes (an incomplete UTF-8 sequence at a chunk edge)
        self.bytes_read = 0  # bytes decoded into buf so far
        self.error: _Utf8Error | None = None  # invalid UTF-8 seen ahead; raised when reached
        self.eof = False

    def fill(self) -> None:
        """Append the next chunk; text before invalid UTF-8 is still delivered first."""
        if self.error is not None:
            raise self.error
        data = self.fh.read(self.chunk)
        raw = self.pending + data
        try:
            text, used = codecs.utf_8_decode(raw, "strict", not data)
        except UnicodeDecodeError as exc:
            at = self.bytes_read + exc.start
            self.error = _Utf8Error(f"byte {at}", f"invalid UTF-8 ({exc.reason} at byte {at})")
            text, used = raw[: exc.start].decode("utf-8"), exc.start
            self.eof = True  # nothing after the bad bytes can be trusted
        self.buf += text
        self.bytes_read += used
        self.pending = raw[used:] if self.error is None else b""
        if not data:
            self.eof = True

    def skip_ws(self) -> str:
        """Skip whitespace; return the next character ('' at end of file)."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if self.eof:
                if self.error is not None:
                    raise self.error
                return ""
            self.fill()

    def advance(self, end: int) -> None:
        """Move past a decoded item; drop consumed text so memory stays bounded."""
        self.pos = end
        if self.pos > self.chunk:
            self.line += self.buf.count("\n", 0, self.pos)
            self.buf = self.buf[self.pos :]
            self.pos = 0

    def where(self) -> str:
        return f"line {self.line + self.buf.count(chr(10), 0, self.pos)}"

    def close(self) -> None:
        self.fh.close()


def sniff_json_array(path: str) -> bool:
    """True when the file's first non-space character is ``[`` (a JSON array)."""
    with open_binary(path) as fh:
        try:
            head = fh.read(4096)
        except DECOMPRESS_ERRORS:
            return False
    return head.lstrip()[:1] == b"["
