"""Requests through the OpenAI Batch API: collected, written as JSONL files, uploaded, answered
later, and written into the durable request cache.

Contract:

- :class:`Outbox` collects ``(cache key, request body)`` pairs from many actors and processes.
  Each process appends to its own JSONL file under one folder (a local path or a pyarrow
  filesystem URI); it travels to Ray actors pickled as its location. On local disk every
  :meth:`Outbox.add` reaches the file at once (a killed actor loses nothing it added); on an
  object store lines are kept in memory and written as one object per flush (at close, at
  ``__del__``, at exit, and every ``flush_every`` lines).
- :func:`build_batch_files` turns collected requests into Batch API input files: keys deduplicated
  and sorted (the same requests always give the same files, so a file's sha256 names it across
  reruns), keys already in the request cache left out, one model per file, a file closed at
  ``max_requests`` lines or ``max_bytes`` bytes. Each line is ``{"custom_id": <cache key>,
  "method": "POST", "url": "/v1/chat/completions", "body": <body>}``.
- :class:`BatchAPI` is a thin wrapper of the ``openai`` SDK's files and batches calls that
  returns plain dicts; the API key is read from the endpoint's ``api_key_env`` variable and
  kept only inside the SDK client.
- :func:`apply_results` reads a batch's output and error files: every line answered with a chat
  completion is recorded in the request cache under its ``custom_id`` (billed as a batch
  request, paid by this run and attempt) and in the run's spend ledger; keys already in the cache
  are neither written nor recorded again. Per-line errors (a 4xx of one request, a body that is
  not a chat completion) are not cached: the live pass makes row errors of them. Lines of an
  expired, failed or cancelled batch that never ran are returned for a resend.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import socket
import threading
import uuid
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

log = logging.getLogger(__name__)

CHAT_URL = "/v1/chat/completions"
# Batch statuses after which nothing changes any more.
TERMINAL = frozenset({"completed", "expired", "failed", "cancelled"})
# Statuses whose unanswered lines never ran (sent again, in a batch or live).
UNFINISHED = frozenset({"expired", "failed", "cancelled"})
EXPIRED_CODE = "batch_expired"
# Metadata keys naming a batch's run, step and input file (how a rerun finds it again).
META_RUN, META_STEP, META_SHA = "luxit_run", "luxit_step", "luxit_input_sha256"


# ---- collecting --------------------------------------------------------------------------


class Outbox:
    """Collects request bodies instead of sending them (see the module docstring).

    Args:
        uri: Folder (local path or pyarrow filesystem URI); created if missing.
        flush_every: Object stores only: lines per written object.
        filesystem: A ``pyarrow.fs.FileSystem`` to use instead of resolving ``uri``.
    """

    def __init__(self, uri: str, *, flush_every: int = 10_000, filesystem: Any = None) -> None:
        import pyarrow.fs as pafs

        if filesystem is not None:
            self.fs, self.root = filesystem, uri
        else:
            if "://" not in uri:
                uri = os.path.abspath(uri)
            self.fs, self.root = pafs.FileSystem.from_uri(uri)
        self.uri = uri
        self._given_fs = filesystem
        self._flush_every = flush_every
        self.local = isinstance(self.fs, pafs.LocalFileSystem)
        self.fs.create_dir(self.root, recursive=True)
        self._name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._lock = threading.Lock()
        self._lines: list[bytes] = []
        self._seq = 0
        self._file: Any = None
        self._closed = False
        self.added = 0
        # Ray may end an actor without dropping its objects first: flush at interpreter exit too.
        ref = weakref.ref(self)
        atexit.register(lambda: (o := ref()) is not None and o.close())

    def add(self, key: str, body: Mapping[str, Any]) -> None:
        """Collect one request (thread-safe; on local disk written before this returns)."""
        line = json.dumps({"k": key, "b": body}, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        with self._lock:
            if self._closed:
                raise RuntimeError(f"Outbox {self.uri} is closed")
            self.added += 1
            if self.local:
                if self._file is None:
                    self._file = open(os.path.join(self.root, self._name + ".jsonl"), "ab", buffering=0)  # noqa: SIM115
                self._file.write(line)  # one write() per line: in the file even if the process dies
                return
            self._lines.append(line)
            if len(self._lines) >= self._flush_every:
                self._flush_locked()

    def flush(self) -> None:
        """Write what is held in memory (object stores)."""
        with self._lock:
            self._flush_locked()

    def close(self) -> None:
        """Flush and close (safe to call twice)."""
        with self._lock:
            if self._closed:
                return
            self._flush_locked()
            self._closed = True
            if self._file is not None:
                self._file.close()
                self._file = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - finalizer: nothing left to report to
            pass

    def __getstate__(self) -> dict[str, Any]:
        return {"uri": self.uri, "flush_every": self._flush_every, "filesystem": self._given_fs}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["uri"], flush_every=state["flush_every"], filesystem=state["filesystem"])

    def _flush_locked(self) -> None:
        if not self._lines:
            return
        path = str(PurePosixPath(self.root) / f"{self._name}-{self._seq:06d}.jsonl")
        with self.fs.open_output_stream(path) as f:
            f.write(b"".join(self._lines))
        self._seq += 1
        self._lines = []


def read_outbox(uri: str, filesystem: Any = None) -> dict[str, dict[str, Any]]:
    """Every request collected under an outbox folder: key -> body (a torn line is skipped).

    Args:
        uri: The folder an :class:`Outbox` wrote (missing: no requests).
        filesystem: As for :class:`Outbox`.
    """
    import pyarrow.fs as pafs

    if filesystem is not None:
        fs, root = filesystem, uri
    else:
        fs, root = pafs.FileSystem.from_uri(os.path.abspath(uri) if "://" not in uri else uri)
    infos = fs.get_file_info(pafs.FileSelector(root, allow_not_found=True))
    out: dict[str, dict[str, Any]] = {}
    for info in sorted(infos, key=lambda i: i.path):
        if info.type != pafs.FileType.File or not info.base_name.endswith(".jsonl"):
            continue
        with fs.open_input_stream(info.path) as f:
            data = f.read()
        for line in data.split(b"\n"):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                out.setdefault(rec["k"], rec["b"])
            except (ValueError, KeyError, TypeError):
                log.warning("outbox %s: skipped an unreadable line in %s", uri, info.base_name)
    return out


# ---- input files -------------------------------------------------------------------------


@dataclass
class BatchFile:
    """One Batch API input file.

    Attributes:
        model: The one model all its requests name.
        keys: Its requests' cache keys (the lines' ``custom_id``), in line order.
        data: The JSONL bytes.
        sha256: Hex digest of ``data`` (names the file across reruns).
    """

    model: str
    keys: list[str]
    data: bytes
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        self.sha256 = hashlib.sha256(self.data).hexdigest()


def batch_line(key: str, body: Mapping[str, Any]) -> bytes:
    """One input line (with its newline)."""
    line = {"custom_id": key, "method": "POST", "url": CHAT_URL, "body": body}
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def build_batch_files(
    requests: Mapping[str, Mapping[str, Any]],
    *,
    max_requests: int,
    max_bytes: int,
    skip: Any = (),
) -> tuple[list[BatchFile], list[str]]:
    """Batch input files for ``requests`` (key -> body), see the module docstring.

    Args:
        requests: Cache key -> request body (keys are unique by construction).
        max_requests: Most lines per file.
        max_bytes: Largest file in bytes.
        skip: Keys to leave out (a :class:`~luxit_ray.llm.cache.RequestCache` or a set).

    Returns:
        ``(files, too_large)``: the files in a stable order (by model, then key), and the keys of
        requests whose one line alone passes ``max_bytes`` (left to the live pass).
    """
    by_model: dict[str, list[str]] = {}
    for key, body in requests.items():
        if key in skip:
            continue
        by_model.setdefault(str(body.get("model", "")), []).append(key)
    files: list[BatchFile] = []
    too_large: list[str] = []
    for model in sorted(by_model):
        keys: list[str] = []
        chunks: list[bytes] = []
        size = 0
        for key in sorted(by_model[model]):
            line = batch_line(key, requests[key])
            if len(line) > max_bytes:
                too_large.append(key)
                continue
            if keys and (len(keys) >= max_requests or size + len(line) > max_bytes):
                files.append(BatchFile(model, keys, b"".join(chunks)))
                keys, chunks, size = [], [], 0
            keys.append(key)
            chunks.append(line)
            size += len(line)
        if keys:
            files.append(BatchFile(model, keys, b"".join(chunks)))
    return files, too_large


def read_batch_file(data: bytes) -> dict[str, dict[str, Any]]:
    """An input file's requests again: custom_id -> body."""
    out = {}
    for line in data.split(b"\n"):
        if line.strip():
            rec = json.loads(line)
            out[rec["custom_id"]] = rec["body"]
    return out


# ---- the API -----------------------------------------------------------------------------


class BatchAPI:
    """Files and batches of one OpenAI-compatible endpoint (the ``openai`` SDK underneath).

    Args:
        endpoint: The endpoint's :class:`~luxit_ray.config.llm.EndpointConfig`.
        name: Its name in the job (messages only).

    Raises:
        AuthError: ``api_key_env`` names a variable that is not set.
    """

    def __init__(self, endpoint: Any, name: str = "") -> None:
        from openai import OpenAI

        from luxit_ray.errors import AuthError

        key = "none"
        if endpoint.api_key_env:
            key = os.environ.get(endpoint.api_key_env) or ""
            if not key:
                raise AuthError(f"endpoint {name!r}: environment variable {endpoint.api_key_env} is not set")
        self.name = name
        self.endpoint = endpoint
        for logger in ("httpx", "httpx2"):  # one INFO line per poll of every batch otherwise
            if logging.getLogger(logger).level == logging.NOTSET:
                logging.getLogger(logger).setLevel(logging.WARNING)
        self._client = OpenAI(base_url=endpoint.base_url, api_key=key, max_retries=endpoint.max_retries,
                              timeout=endpoint.timeout_s)
        del key

    def upload(self, file_name: str, data: bytes) -> str:
        """Upload an input file (purpose ``batch``); returns its file id."""
        return self._client.files.create(file=(file_name, data, "application/jsonl"), purpose="batch").id

    def create(self, input_file_id: str, metadata: Mapping[str, str]) -> dict[str, Any]:
        """Create a batch over an uploaded file."""
        batch = self._client.batches.create(
            input_file_id=input_file_id, endpoint=CHAT_URL,  # type: ignore[arg-type]
            completion_window=self.endpoint.batch_completion_window,  # type: ignore[arg-type]
            metadata=dict(metadata),
        )
        return batch.model_dump()

    def retrieve(self, batch_id: str) -> dict[str, Any]:
        """The batch object now."""
        return self._client.batches.retrieve(batch_id).model_dump()

    def matching(self, metadata: Mapping[str, str]) -> list[dict[str, Any]]:
        """Every batch (all pages of the list) whose metadata holds every item of ``metadata``,
        oldest first: how a rerun finds a batch created just before a kill."""
        found = [b.model_dump() for b in self._client.batches.list(limit=100)
                 if all((b.metadata or {}).get(k) == v for k, v in metadata.items())]
        return sorted(found, key=lambda b: (b.get("created_at") or 0, b["id"]))

    def content(self, file_id: str) -> bytes:
        """A file's bytes (an output or error file)."""
        return self._client.files.content(file_id).read()

    def cancel(self, batch_id: str) -> dict[str, Any]:
        """Ask for a batch to be cancelled."""
        return self._client.batches.cancel(batch_id).model_dump()

    def close(self) -> None:
        """Close the SDK's connections."""
        self._client.close()


# ---- results -----------------------------------------------------------------------------


@dataclass
class Results:
    """What one batch's output and error files gave.

    Attributes:
        answered: Keys answered and recorded in the cache now.
        already: Keys answered that the cache already held (not recorded or counted again).
        line_errors: Key -> error text of lines that failed on their own (left to the live pass).
        resend: Keys that never ran (expired, failed, cancelled): for the next round.
    """

    answered: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    line_errors: dict[str, str] = field(default_factory=dict)
    resend: list[str] = field(default_factory=list)


def _jsonl(data: bytes | None) -> Iterator[dict[str, Any]]:
    for line in (data or b"").split(b"\n"):
        if line.strip():
            try:
                yield json.loads(line)
            except ValueError:
                log.warning("batch result: skipped a line that is not JSON: %r", line[:120])


def _line_error(rec: Mapping[str, Any]) -> tuple[str | None, str]:
    """(code, text) of a result line that is not an answer."""
    err = rec.get("error") or {}
    if err:
        return err.get("code"), f"{err.get('code')}: {err.get('message')}"
    resp = rec.get("response") or {}
    body = resp.get("body") or {}
    detail = body.get("error") if isinstance(body, dict) else None
    if isinstance(detail, dict):
        detail = detail.get("message")
    return None, f"HTTP {resp.get('status_code')}: {detail}"


def apply_results(
    keys: Iterable[str],
    status: str,
    output: bytes | None,
    errors: bytes | None,
    *,
    cache: Any,
    ledger: Any = None,
    stage: str = "batch",
    endpoint_name: str = "",
    endpoint: Any = None,
    run_id: str = "",
    attempt: int = 0,
) -> Results:
    """Record a finished batch's answers (see the module docstring).

    Args:
        keys: The keys of the batch's input file.
        status: The batch's final status.
        output: Its output file's bytes (None: none).
        errors: Its error file's bytes (None: none).
        cache: The :class:`~luxit_ray.llm.cache.RequestCache`.
        ledger: The run's :class:`~luxit_ray.llm.spend.Ledger` (None: spend not recorded); each
            answer recorded now gets one line, paid by the ledger's run and attempt.
        stage: Accounting label of the answers (as the live client's, e.g. ``judge:gpt``).
        endpoint_name: The endpoint's name in the job.
        endpoint: Its :class:`~luxit_ray.config.llm.EndpointConfig` (prices, batch price factor).
        run_id: The paying run when there is no ledger.
        attempt: The paying attempt when there is no ledger.
    """
    from luxit_ray.llm.client import parse_chat_completion
    from luxit_ray.llm.spend import Billing, PaidBy

    keys = list(keys)
    expected = set(keys)
    out = Results()
    done: set[str] = set()
    for rec in _jsonl(output):
        key = rec.get("custom_id")
        if key not in expected or key in done:
            continue
        resp = rec.get("response") or {}
        if resp.get("status_code") != 200:
            code, text = _line_error(rec)
            if code != EXPIRED_CODE:
                out.line_errors[key] = text
                done.add(key)
            continue
        try:
            comp = parse_chat_completion(resp.get("body"))
        except ValueError as exc:
            out.line_errors[key] = f"bad_response: {exc}"
            done.add(key)
            continue
        done.add(key)
        if key in cache:
            out.already.append(key)
            continue
        comp.billing = Billing.of_answer(comp.prompt_tokens, comp.cached_tokens, comp.completion_tokens, batch=True)
        comp.paid = ledger.paid_by() if ledger is not None else PaidBy.new(run_id, attempt)
        cache.put(key, comp.to_record())  # durable before it is counted: a rerun finds it paid
        if ledger is not None:
            ledger.record(stage, endpoint.model if endpoint is not None else "", endpoint_name, endpoint, comp)
        out.answered.append(key)
    for rec in _jsonl(errors):
        key = rec.get("custom_id")
        if key not in expected or key in done:
            continue
        code, text = _line_error(rec)
        if code == EXPIRED_CODE:
            continue  # never ran: sent again below
        out.line_errors[key] = text
        done.add(key)
    missing = [k for k in keys if k not in done]
    if status in UNFINISHED:
        out.resend = missing
    else:
        # A completed batch that left a line out: say so, and let the live pass send it.
        for k in missing:
            out.line_errors[k] = f"missing: no result line in the {status} batch"
    return out


def batch_progress(batches: Iterable[Mapping[str, Any]]) -> str:
    """One progress line: batches by status and requests done of all."""
    by_status: dict[str, int] = {}
    done = total = failed = 0
    for b in batches:
        by_status[b.get("status") or "?"] = by_status.get(b.get("status") or "?", 0) + 1
        counts = b.get("request_counts") or {}
        done += int(counts.get("completed") or 0)
        failed += int(counts.get("failed") or 0)
        total += int(counts.get("total") or 0)
    parts = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items()))
    return f"batches: {parts}; requests {done}/{total} done, {failed} failed"
