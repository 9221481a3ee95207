"""A real local HTTP server speaking the OpenAI files and batches protocol, for tests.

Routes: ``POST /v1/files`` (multipart upload, purpose ``batch``), ``GET /v1/files/{id}``,
``GET /v1/files/{id}/content``, ``POST /v1/batches``, ``GET /v1/batches`` (cursor pages),
``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``, and ``POST /v1/chat/completions``
(the live pass); ``POST /_clock/advance`` ``{"s": seconds}`` moves the clock.

A batch moves validating -> in_progress -> finalizing -> its end on a clock the test controls
(``manual_clock``: only ``advance`` moves it; else real seconds), after ``validate_s``,
``run_s`` and ``finalize_s``. Its lines are answered when it leaves in_progress, by a script
like the chat server's (:class:`tests.openai_server.Reply`, a str or a dict per
:class:`tests.openai_server.Request`). How each batch ends is scripted in creation order by
``outcomes`` (then ``completed``):

- ``completed``: every line answered (a non-200 reply goes to the error file);
- ``expired:N``: the first N lines answered, the rest in the error file as ``batch_expired``;
- ``failed``: validation fails (``errors``, no output, nothing answered);
- ``cancelled:N``: cancelling, then cancelled with the first N lines answered.

Every upload, batch created, line answered and live request is logged to ``Server.events`` and,
with ``log_path``, to a JSONL file (for checks across processes). As a subprocess::

    python tests/batch_server.py --port 0 --log events.jsonl --manual-clock --run-s 5
        [--outcomes expired:2,completed] [--script package.module:function]

prints ``READY <base_url>``; :func:`spawn_batch_server` wraps that.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import importlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

if __package__ in (None, ""):  # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from luxit_ray.llm.request import body_key  # noqa: E402
from tests.openai_server import Reply, Request, completion_body, read_log  # noqa: E402

__all__ = ["BatchServer", "BatchServerProcess", "read_log", "spawn_batch_server", "start_batch_server"]


class Clock:
    """Seconds since start: real time plus advances, or advances only (``manual``)."""

    def __init__(self, manual: bool) -> None:
        self.manual = manual
        self._t0 = time.monotonic()
        self._offset = 0.0

    def now(self) -> float:
        return self._offset + (0.0 if self.manual else time.monotonic() - self._t0)

    def advance(self, s: float) -> None:
        self._offset += s


def _reply(out: Any) -> Reply:
    if isinstance(out, Reply):
        return out
    if isinstance(out, str):
        return Reply(content=out)
    if isinstance(out, dict):
        return Reply(**out)
    return Reply()


class BatchServer:
    """The server, run in a background thread (:meth:`start`) or on a loop (:meth:`serve_forever`).

    Args:
        script: ``f(Request) -> Reply | str | dict`` answering each line (None: ``Reply()``).
        outcomes: How batches end, in creation order (see the module docstring).
        manual_clock: Only :meth:`advance` moves the clock.
        validate_s, run_s, finalize_s: Clock seconds in each phase.
        log_path: JSONL event log.
        port: 0: a free one.
    """

    def __init__(self, script: Callable[[Request], Any] | None = None, *, outcomes: list[str] | None = None,
                 manual_clock: bool = False, validate_s: float = 0.0, run_s: float = 0.0,
                 finalize_s: float = 0.0, log_path: str | os.PathLike[str] | None = None, port: int = 0) -> None:
        self.script = script
        self.outcomes = list(outcomes or [])
        self.clock = Clock(manual_clock)
        self.phases = (validate_s, run_s, finalize_s)
        self.files: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._port = port
        self._log_f = open(log_path, "a", encoding="utf-8") if log_path else None  # noqa: SIM115
        self._lock = threading.Lock()
        self._n = 0
        self._attempts: dict[str, int] = {}
        self.base_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------
    async def _start(self) -> None:
        self._stop = asyncio.Event()
        app = web.Application(client_max_size=256 * 1024 * 1024)
        r = app.router
        r.add_post("/v1/files", self._upload)
        r.add_get("/v1/files/{id}", self._file)
        r.add_get("/v1/files/{id}/content", self._content)
        r.add_post("/v1/batches", self._create)
        r.add_get("/v1/batches", self._list)
        r.add_get("/v1/batches/{id}", self._retrieve)
        r.add_post("/v1/batches/{id}/cancel", self._cancel)
        r.add_post("/v1/chat/completions", self._chat)
        r.add_post("/_clock/advance", self._advance)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/v1"

    def start(self) -> BatchServer:
        """Serve from a daemon thread; returns once listening."""
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_until_complete(self._stop.wait())
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="batch-test-server", daemon=True)
        self._thread.start()
        ready.wait(30)
        return self

    async def serve_forever(self) -> None:
        """Serve on the running loop until :meth:`stop`."""
        self._loop = asyncio.get_running_loop()
        await self._start()
        await self._stop.wait()
        await self._runner.cleanup()

    def stop(self) -> None:
        """Stop serving and close the log."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        if self._log_f is not None:
            self._log_f.close()
            self._log_f = None

    def __enter__(self) -> BatchServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def advance(self, s: float) -> None:
        """Move the clock ``s`` seconds."""
        self.clock.advance(s)

    def count(self, event: str) -> int:
        """Events of one kind logged so far."""
        return sum(1 for e in self.events if e["event"] == event)

    # -- helpers -----------------------------------------------------------------------
    def _log(self, entry: dict[str, Any]) -> None:
        entry = {"t": time.time(), **entry}
        with self._lock:
            self.events.append(entry)
            if self._log_f is not None:
                self._log_f.write(json.dumps(entry, ensure_ascii=False) + "\n")
                self._log_f.flush()

    def _new_id(self, prefix: str) -> str:
        with self._lock:
            self._n += 1
            return f"{prefix}-{self._n:04d}"

    def _answer(self, body: dict[str, Any]) -> tuple[str, Reply, Request]:
        key = body_key(self.base_url, body)
        with self._lock:
            attempt = self._attempts.get(key, 0)
            self._attempts[key] = attempt + 1
            n = sum(self._attempts.values()) - 1
        req = Request(n=n, attempt=attempt, key=key, body=body, headers={})
        return key, _reply(self.script(req) if self.script else None), req

    def _store(self, data: bytes, purpose: str, name: str) -> dict[str, Any]:
        fid = self._new_id("file")
        self.contents[fid] = data
        self.files[fid] = {"id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                           "filename": name, "purpose": purpose, "status": "processed"}
        return self.files[fid]

    def _advance_batch(self, b: dict[str, Any]) -> None:
        """Bring one batch's status up to the clock."""
        if b["status"] in ("completed", "expired", "failed", "cancelled"):
            return
        age = self.clock.now() - b["_t0"]
        validate_s, run_s, finalize_s = self.phases
        kind, n = b["_outcome"]
        if b["status"] == "validating" and age >= validate_s:
            if kind == "failed":
                b.update(status="failed", failed_at=int(time.time()),
                         errors={"object": "list", "data": [{"code": "invalid_request", "line": 1,
                                                             "message": "scripted validation failure",
                                                             "param": "body"}]})
                return
            b.update(status="in_progress", in_progress_at=int(time.time()))
        if b["status"] in ("in_progress", "cancelling") and (age >= validate_s + run_s or b.get("_cancel")):
            if b.get("_cancel") or kind == "cancelled":
                self._run_lines(b, n)
                b.update(status="cancelled", cancelled_at=int(time.time()))
                return
            self._run_lines(b, n if kind == "expired" else None)
            b.update(status="finalizing", finalizing_at=int(time.time()))
        if b["status"] == "finalizing" and age >= validate_s + run_s + finalize_s:
            b.update(status="expired" if kind == "expired" else "completed", completed_at=int(time.time()))

    def _run_lines(self, b: dict[str, Any], limit: int | None) -> None:
        """Answer the batch's lines (the first ``limit``; the rest expire) and write its files."""
        lines = [json.loads(x) for x in self.contents[b["input_file_id"]].splitlines() if x.strip()]
        out, err = [], []
        done = failed = 0
        for i, line in enumerate(lines):
            cid = line["custom_id"]
            if limit is not None and i >= limit:
                if b["_outcome"][0] == "expired":
                    err.append({"id": f"req-{cid[:8]}", "custom_id": cid, "response": None,
                                "error": {"code": "batch_expired", "message": "not executed in the window"}})
                    failed += 1
                continue
            key, reply, req = self._answer(line["body"])
            self._log({"event": "line", "batch_id": b["id"], "custom_id": cid, "key": key, "status": reply.status,
                       "model": line["body"].get("model")})
            if reply.status == 200:
                out.append({"id": f"req-{cid[:8]}", "custom_id": cid, "error": None,
                            "response": {"status_code": 200, "request_id": cid[:8],
                                         "body": completion_body(req, reply)}})
                done += 1
            else:
                err.append({"id": f"req-{cid[:8]}", "custom_id": cid, "error": None,
                            "response": {"status_code": reply.status, "request_id": cid[:8],
                                         "body": {"error": {"message": reply.error_message,
                                                            "code": reply.error_code}}}})
                failed += 1
        out.reverse()  # lines come back in any order: the client must join on custom_id
        if out:
            b["output_file_id"] = self._store(b"".join(json.dumps(x).encode() + b"\n" for x in out),
                                              "batch_output", "out.jsonl")["id"]
        if err:
            b["error_file_id"] = self._store(b"".join(json.dumps(x).encode() + b"\n" for x in err),
                                             "batch_output", "err.jsonl")["id"]
        b["request_counts"] = {"total": len(lines), "completed": done, "failed": failed}

    @staticmethod
    def _public(b: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in b.items() if not k.startswith("_")}

    # -- handlers ----------------------------------------------------------------------
    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["file"]
        data = upload.file.read()
        f = self._store(data, str(form.get("purpose")), upload.filename)
        self._log({"event": "upload", "file_id": f["id"], "bytes": len(data),
                   "sha256": hashlib.sha256(data).hexdigest()})
        return web.json_response(f)

    async def _file(self, request: web.Request) -> web.Response:
        f = self.files.get(request.match_info["id"])
        return web.json_response(f) if f else self._not_found("file")

    async def _content(self, request: web.Request) -> web.Response:
        data = self.contents.get(request.match_info["id"])
        return web.Response(body=data, content_type="application/octet-stream") if data is not None \
            else self._not_found("file")

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        fid = body.get("input_file_id")
        if fid not in self.contents:
            return self._not_found("file")
        spec = self.outcomes.pop(0) if self.outcomes else "completed"
        kind, _, n = spec.partition(":")
        bid = self._new_id("batch")
        lines = [x for x in self.contents[fid].splitlines() if x.strip()]
        models = {json.loads(x)["body"].get("model") for x in lines}
        b = {"id": bid, "object": "batch", "endpoint": body.get("endpoint"), "input_file_id": fid,
             "completion_window": body.get("completion_window"), "status": "validating",
             "created_at": int(time.time()), "metadata": body.get("metadata"), "errors": None,
             "output_file_id": None, "error_file_id": None,
             "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
             "_t0": self.clock.now(), "_outcome": (kind, int(n) if n else None)}
        self.batches[bid] = b
        self._log({"event": "batch_created", "batch_id": bid, "input_file_id": fid, "lines": len(lines),
                   "models": sorted(models), "metadata": body.get("metadata"), "outcome": spec})
        return web.json_response(self._public(b))

    async def _retrieve(self, request: web.Request) -> web.Response:
        b = self.batches.get(request.match_info["id"])
        if b is None:
            return self._not_found("batch")
        self._advance_batch(b)
        return web.json_response(self._public(b))

    async def _list(self, request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", 20))
        after = request.query.get("after")
        ids = sorted(self.batches, reverse=True)  # newest first, as OpenAI lists them
        if after in ids:
            ids = ids[ids.index(after) + 1:]
        page = ids[:limit]
        for bid in page:
            self._advance_batch(self.batches[bid])
        data = [self._public(self.batches[i]) for i in page]
        return web.json_response({"object": "list", "data": data, "first_id": page[0] if page else None,
                                  "last_id": page[-1] if page else None, "has_more": len(ids) > limit})

    async def _cancel(self, request: web.Request) -> web.Response:
        b = self.batches.get(request.match_info["id"])
        if b is None:
            return self._not_found("batch")
        if b["status"] in ("validating", "in_progress"):
            b.update(status="cancelling", cancelling_at=int(time.time()), _cancel=True)
        self._log({"event": "cancel", "batch_id": b["id"]})
        return web.json_response(self._public(b))

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        key, reply, req = self._answer(body)
        self._log({"event": "live", "key": key, "status": reply.status, "model": body.get("model")})
        if reply.status != 200:
            return web.json_response({"error": {"message": reply.error_message, "code": reply.error_code}},
                                     status=reply.status)
        return web.json_response(completion_body(req, reply))

    async def _advance(self, request: web.Request) -> web.Response:
        self.clock.advance(float((await request.json())["s"]))
        return web.json_response({"now": self.clock.now()})

    @staticmethod
    def _not_found(what: str) -> web.Response:
        return web.json_response({"error": {"message": f"no such {what}", "type": "invalid_request_error"}},
                                 status=404)


def start_batch_server(script: Callable[[Request], Any] | None = None, **kw: Any) -> BatchServer:
    """A server on a free port in a background thread (use it as a context manager)."""
    return BatchServer(script, **kw).start()


@dataclasses.dataclass
class BatchServerProcess:
    """A server running as a subprocess (see :func:`spawn_batch_server`)."""

    proc: subprocess.Popen[str]
    base_url: str
    log_path: str

    def advance(self, s: float) -> None:
        """Move the server's clock ``s`` seconds."""
        import urllib.request

        req = urllib.request.Request(self.base_url.removesuffix("/v1") + "/_clock/advance",
                                     data=json.dumps({"s": s}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()

    def events(self) -> list[dict[str, Any]]:
        """The event log so far."""
        return read_log(self.log_path)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def __enter__(self) -> BatchServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spawn_batch_server(*, log_path: str | os.PathLike[str], script: str | None = None,
                       outcomes: list[str] | None = None, manual_clock: bool = False, validate_s: float = 0.0,
                       run_s: float = 0.0, finalize_s: float = 0.0) -> BatchServerProcess:
    """Run the server as a subprocess (its own interpreter); ``script`` is ``module:function``."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--port", "0", "--log", str(log_path),
           "--validate-s", str(validate_s), "--run-s", str(run_s), "--finalize-s", str(finalize_s)]
    if script:
        cmd += ["--script", script]
    if outcomes:
        cmd += ["--outcomes", ",".join(outcomes)]
    if manual_clock:
        cmd.append("--manual-clock")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"batch test server did not start: {line!r}")
    return BatchServerProcess(proc, line.split()[1], str(log_path))


def main(argv: list[str] | None = None) -> None:
    """CLI entry: serve until SIGTERM."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--log", required=True, help="JSONL event log")
    p.add_argument("--script", default=None, help="module:function answering each line")
    p.add_argument("--outcomes", default="", help="comma-separated outcomes in creation order")
    p.add_argument("--manual-clock", action="store_true", help="only POST /_clock/advance moves the clock")
    p.add_argument("--validate-s", type=float, default=0.0)
    p.add_argument("--run-s", type=float, default=0.0)
    p.add_argument("--finalize-s", type=float, default=0.0)
    args = p.parse_args(argv)
    script = None
    if args.script:
        mod, _, fn = args.script.partition(":")
        script = getattr(importlib.import_module(mod), fn)
    srv = BatchServer(script, outcomes=[o for o in args.outcomes.split(",") if o],
                      manual_clock=args.manual_clock, validate_s=args.validate_s, run_s=args.run_s,
                      finalize_s=args.finalize_s, log_path=args.log, port=args.port)

    async def run() -> None:
        import signal

        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(srv.serve_forever())
        while srv._stop is None or not srv.base_url:
            await asyncio.sleep(0.01)
        loop.add_signal_handler(signal.SIGTERM, srv._stop.set)
        print(f"READY {srv.base_url}", flush=True)
        await task

    asyncio.run(run())


if __name__ == "__main__":
    main()
