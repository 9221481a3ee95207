"""The durable request cache: every billed response is recorded before it is used, so a crash,
a kill or a rerun never pays twice for it.

Layout under the cache URI (a local path or any pyarrow filesystem URI):

- ``<host>-<pid>-<uuid>.jsonl``: one segment per writer process, one JSON line per record:
  ``{"k": <key>, "v": <record>}``. Writers never share a file, so several actors and processes
  write concurrently without locks.
- ``<same name>.idx``: ``<key> <offset> <length>`` per record, appended after the data. At open
  the index files are read (not the data), and only a segment's tail past its last indexed
  record is scanned, so opening a cache of many GB is cheap. Values are read on demand; memory
  holds only keys and positions.
- Every process sees what the others record: a lookup that misses re-reads, at most every
  ``refresh_interval_s``, what was appended to the other segments' index files since it last
  read them (only those bytes) and the index files of segments that appeared since (a process
  that started later, a new segment object). A call that Ray runs again on another actor that
  was already running finds the answers the first actor recorded.

Durability:

- Local disk: :meth:`RequestCache.put` returns after write + flush + ``fsync`` of the segment
  (group commit: concurrent puts share one fsync). A torn last line left by ``kill -9`` is
  skipped and counted (``torn_lines``), never fatal.
- Object stores (s3://, gs://, ...), where appending is impossible: records are buffered and
  written as immutable segment objects (``...-<seq>.jsonl`` + ``.idx``) at every flush (every
  ``flush_every`` records or ``flush_interval_s`` seconds, and at close). Records put since the
  last flush are lost if the process dies: at most that window of calls is paid again.

What is recorded: the client records every HTTP 200 response (successes and the billed row
errors ``length`` and ``empty``). Failures that cost nothing (4xx, timeouts, 5xx) are never
recorded, so a rerun sends them again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from luxit_ray.llm.request import body_key, build_body, request_key

log = logging.getLogger(__name__)

__all__ = ["RequestCache", "body_key", "build_body", "request_key"]

_SEG_SUFFIX = ".jsonl"
_IDX_SUFFIX = ".idx"
_MAX_OPEN_READERS = 64
# The longest a miss may be served from a stale index: a lookup that misses re-reads the other
# segments' new index lines at most this often (a listing and a size check per segment).
REFRESH_INTERVAL_S = 0.25


def _pack(seg: int, offset: int, length: int) -> int:
    return (seg << 80) | (offset << 32) | length


def _unpack(loc: int) -> tuple[int, int, int]:
    return loc >> 80, (loc >> 32) & ((1 << 48) - 1), loc & 0xFFFFFFFF


def _is_local(fs: Any) -> bool:
    import pyarrow.fs as pafs

    return isinstance(fs, pafs.LocalFileSystem)


class RequestCache:
    """Append-only, crash-tolerant key -> record store on a pyarrow filesystem URI.

    Args:
        uri: Local directory or filesystem URI (``s3://bucket/prefix``); created if missing.
            With ``filesystem``: a path on that filesystem.
        flush_every: Object stores only: records per segment object.
        flush_interval_s: Object stores only: the longest a record waits in memory.
        refresh_interval_s: A miss re-reads the other processes' new index lines at most this
            often (0: at every miss).
        filesystem: A ``pyarrow.fs.FileSystem`` to use instead of resolving ``uri`` (e.g. one
            with explicit credentials).

    Attributes:
        torn_lines: Unreadable lines skipped at open (a torn last line after a kill).
        entries_loaded: Records indexed at open.
        refreshes: Times a miss re-read the other segments' new index lines.
        bad_records: Indexed records found unreadable when read (treated as misses).
    """

    def __init__(
        self,
        uri: str,
        *,
        flush_every: int = 256,
        flush_interval_s: float = 5.0,
        filesystem: Any = None,
        refresh_interval_s: float = REFRESH_INTERVAL_S,
    ) -> None:
        import pyarrow.fs as pafs

        if filesystem is not None:
            self.fs, self.root = filesystem, uri
        else:
            if "://" not in uri:
                uri = os.path.abspath(uri)
            self.fs, self.root = pafs.FileSystem.from_uri(uri)
        self.uri = uri
        self._given_fs = filesystem
        self.local = _is_local(self.fs)
        self.fs.create_dir(self.root, recursive=True)
        self._lock = threading.Lock()
        # One small int per key keeps memory near 150 bytes per record at millions of records.
        self._index: dict[bytes, int] = {}  # digest -> _pack(segment, offset, length)
        self._segments: list[str] = []
        self._seg_numbers: dict[str, int] = {}
        # Index file name -> bytes of it read so far (up to its last complete line).
        self._idx_read: dict[str, int] = {}
        self._refresh_interval_s = refresh_interval_s
        self._refresh_lock = threading.Lock()
        self._last_refresh = time.monotonic()
        self.refreshes = 0
        self.torn_lines = 0
        self.bad_records = 0
        self.entries_loaded = 0
        # Named before loading so that a refresh never reads this process's own segments.
        self._name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._load()
        self.entries_loaded = len(self._index)

        self._seq = 0
        self._pending: list[tuple[bytes, bytes, concurrent.futures.Future[None] | None]] = []
        self._cond = threading.Condition(self._lock)
        self._closed = False
        self._flush_every = flush_every
        self._flush_interval_s = flush_interval_s
        self._data_f: Any = None
        self._idx_f: Any = None
        self._data_pos = 0
        self._own_seg = -1
        self._readers: dict[int, Any] = {}
        self._writer = threading.Thread(target=self._write_loop, name="request-cache-writer", daemon=True)
        self._writer.start()

    # -- public API --------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: str) -> bool:
        return bytes.fromhex(key) in self._index

    def get(self, key: str) -> dict[str, Any] | None:
        """The record stored under ``key``, or None. A miss first reads what other processes
        recorded since the last look (at most every ``refresh_interval_s``)."""
        digest = bytes.fromhex(key)
        if digest not in self._index and self._refresh_due():
            self.refresh()
        with self._lock:
            loc = self._index.get(digest)
            if loc is None:
                return None
            seg, offset, length = _unpack(loc)
            f = self._reader(seg)
        # Positional reads are thread-safe; no lock held during I/O.
        line = os.pread(f.fileno(), length, offset) if self.local else f.read_at(length, offset)
        try:
            return json.loads(line)["v"]
        except (ValueError, KeyError, TypeError):
            # Damaged on disk after it was indexed: treat as a miss (the request is sent again).
            self.bad_records += 1
            log.warning("request cache %s: unreadable record for key %s; ignoring it", self.uri, key)
            return None

    async def get_async(self, key: str) -> dict[str, Any] | None:
        """:meth:`get` for coroutines: object-store reads run in a thread, not on the loop."""
        if self.local or (bytes.fromhex(key) not in self._index and not self._refresh_due()):
            return self.get(key)
        return await asyncio.to_thread(self.get, key)

    def put(self, key: str, record: dict[str, Any]) -> None:
        """Record ``record`` under ``key``; durable once this returns (local disk)."""
        self.submit(key, record).result()

    def submit(self, key: str, record: dict[str, Any]) -> concurrent.futures.Future[None]:
        """Queue a put; the future resolves once the record is durable (see module doc)."""
        line = json.dumps({"k": key, "v": record}, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        fut: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("RequestCache is closed")
            self._pending.append((bytes.fromhex(key), line, fut))
            self._cond.notify()
        return fut

    async def put_async(self, key: str, record: dict[str, Any]) -> None:
        """:meth:`put` for coroutines: concurrent callers share one write and one fsync."""
        await asyncio.wrap_future(self.submit(key, record))

    def flush(self) -> None:
        """Make everything put so far durable (object stores: write a segment object now)."""
        fut: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._cond:
            self._pending.append((b"", b"", fut))
            self._cond.notify()
        fut.result()

    def close(self) -> None:
        """Flush and stop the writer thread."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify()
        self._writer.join()
        with self._lock:
            for f in (self._data_f, self._idx_f, *self._readers.values()):
                if f is not None:
                    f.close()
            self._readers.clear()
            self._data_f = self._idx_f = None

    def __enter__(self) -> RequestCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        # Shipped to Ray actors as its URI; each process opens its own segment.
        return {
            "uri": self.uri,
            "flush_every": self._flush_every,
            "flush_interval_s": self._flush_interval_s,
            "filesystem": self._given_fs,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(
            state["uri"],
            flush_every=state["flush_every"],
            flush_interval_s=state["flush_interval_s"],
            filesystem=state["filesystem"],
        )

    def refresh(self) -> int:
        """Index what other processes recorded since the last look: the new lines of their
        index files (only the bytes appended since) and the index files of new segments.
        Returns the records added; 0 at once when another thread is refreshing."""
        if not self._refresh_lock.acquire(blocking=False):
            return 0
        try:
            before = len(self._index)
            self._read_new_index_lines()
            self.refreshes += 1
            return len(self._index) - before
        finally:
            self._last_refresh = time.monotonic()
            self._refresh_lock.release()

    def _refresh_due(self) -> bool:
        return time.monotonic() - self._last_refresh >= self._refresh_interval_s

    def _read_new_index_lines(self) -> None:
        import pyarrow.fs as pafs

        infos = self.fs.get_file_info(pafs.FileSelector(self.root, recursive=False))
        files = {i.base_name: (i.size or 0) for i in infos if i.type == pafs.FileType.File}
        for idx_name, size in sorted(files.items()):
            if not idx_name.endswith(_IDX_SUFFIX) or idx_name.startswith(self._name):
                continue
            seg_name = idx_name[: -len(_IDX_SUFFIX)] + _SEG_SUFFIX
            done = self._idx_read.get(idx_name, 0)
            if size <= done or seg_name not in files:
                continue
            seg = self._seg_numbers.get(seg_name)
            if seg is None:
                with self._lock:
                    seg = self._add_segment(seg_name)
            with self.fs.open_input_file(self._path(idx_name)) as f:
                raw = f.read_at(size - done, done)
            # A line still being appended waits for the next refresh.
            complete = raw.rfind(b"\n") + 1
            entries = list(self._parse_index(raw[:complete], seg, None))
            with self._lock:
                for key, loc in entries:
                    self._index.setdefault(key, loc)
            self._idx_read[idx_name] = done + complete

    @staticmethod
    def _parse_index(raw: bytes, seg: int, size: int | None) -> Iterator[tuple[bytes, int]]:
        """(key, packed location) of each well-formed index line of segment ``seg`` whose record
        lies within ``size`` bytes (None: not checked)."""
        for line in raw.split(b"\n"):
            parts = line.split(b" ")
            if len(parts) != 3:
                continue  # torn index line: at open, the tail scan recovers the record
            try:
                key, off, length = bytes.fromhex(parts[0].decode()), int(parts[1]), int(parts[2])
            except ValueError:
                continue
            if size is not None and off + length > size:
                continue
            yield key, _pack(seg, off, length)

    # -- loading -----------------------------------------------------------------------
    def _path(self, name: str) -> str:
        return str(PurePosixPath(self.root) / name) if not self.local else os.path.join(self.root, name)

    def _load(self) -> None:
        import pyarrow.fs as pafs

        infos = self.fs.get_file_info(pafs.FileSelector(self.root, recursive=False))
        names = sorted(i.base_name for i in infos if i.type == pafs.FileType.File)
        have = set(names)
        for name in names:
            if not name.endswith(_SEG_SUFFIX):
                continue
            seg = self._add_segment(name)
            idx_name = name[: -len(_SEG_SUFFIX)] + _IDX_SUFFIX
            size = self.fs.get_file_info(self._path(name)).size or 0
            end = 0
            if idx_name in have:
                with self.fs.open_input_stream(self._path(idx_name)) as f:
                    raw = f.read()
                self._idx_read[idx_name] = raw.rfind(b"\n") + 1
                for key, loc in self._parse_index(raw, seg, size):
                    self._index[key] = loc
                    _, off, length = _unpack(loc)
                    end = max(end, off + length)
            if end < size:
                self._scan_tail(seg, name, end, size)

    def _add_segment(self, name: str) -> int:
        seg = len(self._segments)
        self._segments.append(name)
        self._seg_numbers[name] = seg
        return seg

    def _scan_tail(self, seg: int, name: str, start: int, size: int) -> None:
        with self.fs.open_input_file(self._path(name)) as f:
            data = f.read_at(size - start, start)
        pos = 0
        while pos < len(data):
            nl = data.find(b"\n", pos)
            stop = len(data) if nl < 0 else nl + 1
            line = data[pos:stop]
            try:
                if nl < 0:
                    raise ValueError("no newline")
                key = json.loads(line)["k"]
                self._index[bytes.fromhex(key)] = _pack(seg, start + pos, len(line))
            except (ValueError, KeyError, TypeError):
                self.torn_lines += 1
                log.warning("request cache %s: skipped an unreadable line at byte %d", name, start + pos)
            pos = stop

    def _reader(self, seg: int) -> Any:
        f = self._readers.pop(seg, None)
        if f is None:
            path = self._path(self._segments[seg])
            f = open(path, "rb") if self.local else self.fs.open_input_file(path)  # noqa: SIM115
            if len(self._readers) >= _MAX_OPEN_READERS:
                # Dropped, not closed: a reader still using it holds a reference; GC closes it.
                self._readers.pop(next(iter(self._readers)))
        self._readers[seg] = f  # most recently used last
        return f

    # -- writing (one thread) ----------------------------------------------------------
    def _write_loop(self) -> None:
        last_flush = time.monotonic()
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    timeout = None
                    if not self.local and self._buffer_size():
                        timeout = max(0.0, self._flush_interval_s - (time.monotonic() - last_flush))
                        if timeout == 0.0:
                            break
                    if not self._cond.wait(timeout):
                        break
                batch, self._pending = self._pending, []
                closing = self._closed and not batch
            try:
                if self.local:
                    self._write_local(batch)
                else:
                    force = closing or any(not k for k, _, _ in batch) or (
                        time.monotonic() - last_flush >= self._flush_interval_s
                    )
                    if self._write_remote(batch, force):
                        last_flush = time.monotonic()
            except BaseException as e:  # resolve waiters with the failure, keep the thread alive
                log.error("request cache %s: write failed: %s", self.uri, e)
                for _, _, fut in batch:
                    if fut is not None and not fut.done():
                        fut.set_exception(e)
                if closing:
                    return
                continue
            if closing:
                return

    def _open_own_segment(self) -> None:
        name = self._name + _SEG_SUFFIX
        path = self._path(name)
        self._data_f = open(path, "ab")  # noqa: SIM115
        self._idx_f = open(self._path(self._name + _IDX_SUFFIX), "ab")  # noqa: SIM115
        self._data_pos = self._data_f.tell()
        dir_fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the new file's directory entry survives a crash too
        finally:
            os.close(dir_fd)
        with self._lock:
            self._own_seg = self._add_segment(name)

    def _write_local(self, batch: list[tuple[bytes, bytes, concurrent.futures.Future[None] | None]]) -> None:
        records = [(k, line) for k, line, _ in batch if k]
        if records:
            if self._data_f is None:
                self._open_own_segment()
            positions = []
            pos = self._data_pos
            for k, line in records:
                positions.append((k, pos, len(line)))
                pos += len(line)
            self._data_f.write(b"".join(line for _, line in records))
            self._data_f.flush()
            os.fsync(self._data_f.fileno())
            self._data_pos = pos
            self._idx_f.write(b"".join(f"{k.hex()} {o} {n}\n".encode() for k, o, n in positions))
            self._idx_f.flush()
            with self._lock:
                for k, o, n in positions:
                    self._index[k] = _pack(self._own_seg, o, n)
        for _, _, fut in batch:
            if fut is not None and not fut.done():
                fut.set_result(None)

    # Object stores: records wait here until a segment object is written.
    _buffer: list[tuple[bytes, bytes, concurrent.futures.Future[None] | None]]

    def _buffer_size(self) -> int:
        return len(getattr(self, "_buffer", []))

    def _write_remote(self, batch: list[tuple[bytes, bytes, concurrent.futures.Future[None] | None]], force: bool) -> bool:
        if not hasattr(self, "_buffer"):
            self._buffer = []
        self._buffer.extend(batch)
        n_records = sum(1 for k, _, _ in self._buffer if k)
        if not force and n_records < self._flush_every:
            return False
        buf, self._buffer = self._buffer, []
        records = [(k, line) for k, line, _ in buf if k]
        if records:
            stem = f"{self._name}-{self._seq:06d}"
            self._seq += 1
            positions, pos = [], 0
            for k, line in records:
                positions.append((k, pos, len(line)))
                pos += len(line)
            with self.fs.open_output_stream(self._path(stem + _SEG_SUFFIX)) as f:
                f.write(b"".join(line for _, line in records))
            with self.fs.open_output_stream(self._path(stem + _IDX_SUFFIX)) as f:
                f.write(b"".join(f"{k.hex()} {o} {n}\n".encode() for k, o, n in positions))
            with self._lock:
                seg = self._add_segment(stem + _SEG_SUFFIX)
                for k, o, n in positions:
                    self._index[k] = _pack(seg, o, n)
        for _, _, fut in buf:
            if fut is not None and not fut.done():
                fut.set_result(None)
        return True
