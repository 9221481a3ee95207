"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

It speaks the chat-completions wire format (``POST /v1/chat/completions``, ``GET /v1/models``)
and answers each request as a *script* says: scripted content and reasoning, usage numbers,
finish reasons, delays, HTTP errors with headers (``429`` + ``Retry-After``), raw bodies, hangs
(for client timeouts) and dropped connections. Every request is logged (time, sequence number,
cache key, body hash, status) to ``Server.requests`` and optionally to a JSONL file, so tests can
count exactly what reached the endpoint, also across processes (crash tests).

In-process (a background thread)::

    from tests.openai_server import Reply, start_server
    with start_server([Reply(status=429, headers={"Retry-After": "1"}), Reply(content="hi")]) as srv:
        ...  # srv.base_url, srv.requests

A script is None (always ``Reply()``), a list of replies used in order (then ``Reply()``), or a
callable ``f(req: Request) -> Reply | str | dict`` (a str is the content; a dict is ``Reply(**d)``).

As a subprocess (its own interpreter, so it does not share the client's GIL)::

    python tests/openai_server.py --port 0 --latency 2.0 --log requests.jsonl [--workers 2]
        [--script package.module:function] [--latency-p99 20] [--profile reasoning]

Answer times: fixed (``--latency``), log-normal (``--latency`` the median, ``--latency-p99`` the
99th percentile), or a named :class:`AnswerProfile` (``--profile reasoning``: a reasoning model,
whose answer time follows the length of its answer, with a tail of answers that take minutes).

prints ``READY <base_url>`` once listening. :func:`spawn_server` wraps that.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import hashlib
import importlib
import json
import math
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any

from aiohttp import web

if __package__ in (None, ""):  # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from luxit_ray.llm.request import body_key  # noqa: E402


@dataclass
class Reply:
    """How the server answers one request.

    Attributes:
        content: Message content (None: the field is null).
        reasoning_content: Reasoning text, sent in the field named ``reasoning_field``.
        reasoning_field: ``reasoning_content`` (DeepSeek) or ``reasoning`` (vLLM).
        finish_reason: ``stop``, ``length``, ...
        usage: The usage object; None: derived from lengths (characters // 4).
        delay: Seconds to wait before answering.
        status: HTTP status; not 200: an error reply with ``error_message`` (or ``body``).
        headers: Extra response headers (e.g. ``{"Retry-After": "1"}``).
        body: A raw response body (bytes or str) sent as-is instead of JSON.
        error_message: Message of the OpenAI-style error body.
        error_code: ``code`` of the error body (e.g. ``context_length_exceeded``).
        hang: Never answer (until the server stops or ``hang_s`` passes): a client timeout.
        hang_s: Longest hang.
        drop: Close the connection without an answer.
    """

    content: str | None = "ok"
    reasoning_content: str | None = None
    reasoning_field: str = "reasoning_content"
    finish_reason: str | None = "stop"
    usage: dict[str, Any] | None = None
    delay: float = 0.0
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | str | None = None
    error_message: str = "error"
    error_code: str | None = None
    hang: bool = False
    hang_s: float = 60.0
    drop: bool = False


@dataclass
class Request:
    """What a script sees of one request."""

    n: int  # sequence number on this server (0-based)
    attempt: int  # earlier requests with the same key
    key: str  # the request-cache key (luxit_ray.llm.request.body_key)
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages", [])

    @property
    def model(self) -> str:
        return self.body.get("model", "")

    @property
    def response_format(self) -> dict[str, Any] | None:
        return self.body.get("response_format")

    @property
    def user_text(self) -> str:
        """Content of the last user message (handy in scripts)."""
        for m in reversed(self.messages):
            if m.get("role") == "user" and isinstance(m.get("content"), str):
                return m["content"]
        return ""


Script = None | list | Callable[[Request], Any]


def _default_usage(req: Request, reply: Reply) -> dict[str, Any]:
    chars = sum(len(m.get("content") or "") for m in req.messages if isinstance(m.get("content"), str))
    out = len(reply.content or "") // 4
    reasoning = len(reply.reasoning_content or "") // 4
    return {
        "prompt_tokens": chars // 4,
        "completion_tokens": out + reasoning,
        "total_tokens": chars // 4 + out + reasoning,
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def completion_body(req: Request, reply: Reply) -> dict[str, Any]:
    """The chat.completion JSON object for a 200 reply."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.reasoning_content is not None:
        message[reply.reasoning_field] = reply.reasoning_content
    return {
        "id": f"chatcmpl-{req.n}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": req.model,
        "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason, "logprobs": None}],
        "usage": reply.usage if reply.usage is not None else _default_usage(req, reply),
    }


@dataclass(frozen=True)
class AnswerProfile:
    """Answer times that follow the answer's length, as a reasoning model's do: each answer's
    length (completion tokens) is drawn, and it takes ``length / tokens_per_s`` seconds.

    Most lengths are log-normal; a share ``slow_fraction`` of answers (runaway reasoning) is
    drawn apart, its time uniform in ``slow_s``. The log-normal part is fitted so that the whole
    mixture, slow answers included, has median ``median_s`` and 99th percentile ``p99_s``.

    Attributes:
        median_s: Median answer time.
        p99_s: 99th percentile of the answer time.
        slow_fraction: Share of answers in the slow range.
        slow_s: The slow answers' times, (low, high) seconds (above ``p99_s``).
        tokens_per_s: Decoding speed: how long an answer of a given length takes.
    """

    median_s: float = 2.0
    p99_s: float = 20.0
    slow_fraction: float = 0.001
    slow_s: tuple[float, float] = (60.0, 120.0)
    tokens_per_s: float = 50.0

    @functools.cached_property
    def _fit(self) -> tuple[float, float]:
        return self.lognormal()

    def lognormal(self) -> tuple[float, float]:
        """(mu, sigma) of the log answer time of the answers outside the slow range (a
        log-normal cut at the slow range's start, so exactly ``slow_fraction`` lie in it)."""
        body = 1.0 - self.slow_fraction
        cut = math.log(self.slow_s[0])
        kept = 1.0  # the log-normal's mass below the cut; the fit and the cut settle in a few rounds
        for _ in range(8):
            # Slow answers all lie above p99, so the body alone holds the mixture's lower quantiles.
            z_median = NormalDist().inv_cdf(0.5 * kept / body)
            z_p99 = NormalDist().inv_cdf(0.99 * kept / body)
            sigma = (math.log(self.p99_s) - math.log(self.median_s)) / (z_p99 - z_median)
            mu = math.log(self.median_s) - sigma * z_median
            kept = NormalDist(mu, sigma).cdf(cut)
        return mu, sigma

    def draw(self, rng: random.Random) -> tuple[int, float]:
        """One answer: (its length in completion tokens, its answer time in seconds)."""
        if rng.random() < self.slow_fraction:
            seconds = rng.uniform(*self.slow_s)
        else:
            mu, sigma = self._fit
            seconds = math.exp(rng.gauss(mu, sigma))
            while seconds >= self.slow_s[0]:
                seconds = math.exp(rng.gauss(mu, sigma))
        tokens = max(1, round(seconds * self.tokens_per_s))
        return tokens, tokens / self.tokens_per_s


# ``--profile NAME``: the named answer-time profiles.
PROFILES: dict[str, AnswerProfile] = {
    # A reasoning model (DeepSeek-R1-like): median 2 s, p99 20 s, 0.1% of answers at 60-120 s.
    "reasoning": AnswerProfile(),
}


class Server:
    """A running server (in a background thread of this process).

    Attributes:
        base_url: ``http://127.0.0.1:<port>/v1``.
        requests: One dict per request received: ``t``, ``n``, ``key``, ``body_sha``, ``body``,
            ``status`` (``"hang"``/``"drop"`` for those), ``attempt``.
    """

    def __init__(
        self,
        script: Script = None,
        *,
        port: int = 0,
        log_path: str | os.PathLike[str] | None = None,
        latency: float = 0.0,
        api_key: str | None = None,
        model: str = "test-model",
        reuse_port: bool = False,
        latency_p99: float | None = None,
        log_light: bool = False,
        seed: int = 0,
        profile: str | AnswerProfile | None = None,
    ) -> None:
        self.script = script
        self.latency = latency
        # A named answer-time profile replaces ``latency``/``latency_p99``; a 200 answer without
        # scripted usage reports the drawn length as its completion tokens.
        self.profile = PROFILES[profile] if isinstance(profile, str) else profile
        # Log-normal answer times with median ``latency`` and 99th percentile ``latency_p99``
        # (sigma from the two quantiles: ln(p99/median) / z_0.99); None: every answer takes
        # exactly ``latency``.
        self.latency_p99 = latency_p99
        self._sigma = math.log(latency_p99 / latency) / 2.3263478740408408 if latency_p99 and latency else 0.0
        self._rng = random.Random(seed)
        # Light log (benchmarks): one line per answered request, written when the answer is sent,
        # with its start ``t``, end ``t_end``, ``key``, ``status`` and ``model`` (no body).
        self.log_light = log_light
        self.api_key = api_key
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self._log_path = Path(log_path) if log_path else None
        self._log_f = open(self._log_path, "a", encoding="utf-8") if self._log_path else None  # noqa: SIM115
        self._queue = list(script) if isinstance(script, list) else None
        self._lock = threading.Lock()
        self._attempts: dict[str, int] = {}
        self._port = port
        self._reuse_port = reuse_port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._stop_event: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.base_url = ""
        self.in_flight = 0  # requests being answered now
        self.max_in_flight = 0  # the most seen at once
        # Requests whose client went away before the answer (their handler is cancelled, as
        # vLLM aborts such a request): a hedged copy that lost, a client timeout.
        self.cancelled = 0
        # Fixed-latency fast path (benchmarks): one pre-built body, no per-request work.
        self._fast_body = json.dumps(
            {
                "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
            }
        ).encode()

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> Server:
        """Start in a daemon thread; returns once listening."""
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start())
            except BaseException as e:  # surfaced to the caller of start()
                errors.append(e)
                ready.set()
                return
            ready.set()
            loop.run_until_complete(self._stop_event.wait())
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="openai-test-server", daemon=True)
        self._thread.start()
        ready.wait(30)
        if errors:
            raise errors[0]
        return self

    async def _start(self) -> None:
        self._stop_event = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5, handle_signals=False,
                                     handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port, reuse_port=self._reuse_port or None, backlog=8192)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    async def serve_forever(self) -> None:
        """Run on the current loop until :meth:`stop` (CLI mode)."""
        self._loop = asyncio.get_running_loop()
        await self._start()
        await self._stop_event.wait()
        await self._runner.cleanup()

    def stop(self) -> None:
        """Stop serving (hanging requests are cut) and close the log file."""
        if self._loop is not None and self._stop_event is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop_event.set)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        if self._log_f is not None:
            self._log_f.close()
            self._log_f = None

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers for tests -------------------------------------------------------------
    def set_script(self, script: Script) -> None:
        """Replace the script (and reset a list queue)."""
        with self._lock:
            self.script = script
            self._queue = list(script) if isinstance(script, list) else None

    def count(self, status: int | str | None = None) -> int:
        """Requests received (with that status, if given)."""
        return sum(1 for r in self.requests if status is None or r["status"] == status)

    def clear(self) -> None:
        """Forget logged requests and per-key attempt counts."""
        with self._lock:
            self.requests.clear()
            self._attempts.clear()
            self.max_in_flight = 0
            self.cancelled = 0

    # -- handlers ----------------------------------------------------------------------
    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "test"}]})

    def _next_reply(self, req: Request) -> Reply:
        with self._lock:
            script = self.script
            if self._queue is not None:
                out: Any = self._queue.pop(0) if self._queue else Reply()
            elif script is None:
                out = Reply()
            else:
                out = None
        if out is None:
            out = script(req)  # type: ignore[operator]
        if isinstance(out, Reply):
            return out
        if isinstance(out, str):
            return Reply(content=out)
        if isinstance(out, dict):
            return Reply(**out)
        raise TypeError(f"script returned {type(out).__name__}; expected Reply, str or dict")

    def _log(self, entry: dict[str, Any]) -> None:
        with self._lock:
            if not (self.log_light and self._log_f is not None):  # a long benchmark keeps no list
                self.requests.append(entry)
            if self._log_f is not None:
                self._log_f.write(json.dumps(entry, ensure_ascii=False) + "\n")
                self._log_f.flush()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        if (self.script is None and self.latency and self._log_f is None and self.api_key is None and not self._sigma
                and self.profile is None):
            # Benchmark fast path: fixed latency, nothing else.
            await asyncio.sleep(self.latency)
            return web.Response(body=self._fast_body, content_type="application/json")
        t = time.time()
        if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            self._log({"t": t, "n": -1, "key": None, "body_sha": hashlib.sha256(raw).hexdigest(), "status": 401})
            return web.json_response(
                {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error", "code": "invalid_api_key"}},
                status=401,
            )
        try:
            body = json.loads(raw)
        except ValueError:
            return web.json_response({"error": {"message": "body is not JSON", "type": "invalid_request_error"}}, status=400)
        key = body_key(self.base_url, body)
        with self._lock:
            n = len(self.requests)
            attempt = self._attempts.get(key, 0)
            self._attempts[key] = attempt + 1
        req = Request(n=n, attempt=attempt, key=key, body=body, headers=dict(request.headers))
        reply = self._next_reply(req)
        status: int | str = "hang" if reply.hang else "drop" if reply.drop else reply.status
        if not self.log_light:
            self._log(
                {"t": t, "n": n, "attempt": attempt, "key": key, "body_sha": hashlib.sha256(raw).hexdigest(),
                 "status": status, "body": body}
            )
        if self.profile is not None:
            tokens, answer_s = self.profile.draw(self._rng)
            delay = reply.delay + answer_s
            if reply.usage is None and reply.status == 200 and reply.body is None:
                usage = _default_usage(req, reply)
                reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
                usage.update(completion_tokens=tokens, total_tokens=usage["prompt_tokens"] + tokens,
                             completion_tokens_details={"reasoning_tokens": min(reasoning, tokens)})
                reply = dataclasses.replace(reply, usage=usage)
        else:
            delay = reply.delay + self._latency_s()
        if self.log_light and not reply.hang and not reply.drop:
            # ``d``: the answer time drawn for it, also for a request cancelled before its answer
            # (status "cancelled"), so a benchmark can take the endpoint's mean answer time from
            # every draw, not only from the answers a hedging client waited for.
            try:
                if delay:
                    await asyncio.sleep(delay)
                return self._response(req, reply)
            except asyncio.CancelledError:
                status = "cancelled"
                raise
            finally:
                self._log({"t": t, "t_end": time.time(), "n": n, "key": key, "status": status,
                           "model": body.get("model"), "d": round(delay, 4)})
        if reply.hang:
            try:
                await asyncio.wait_for(self._stop_event.wait(), reply.hang_s)
            except asyncio.TimeoutError:
                pass
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)  # never reaches the client
        if delay:
            await asyncio.sleep(delay)
        if reply.drop:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)  # never reaches the client
        return self._response(req, reply)

    def _latency_s(self) -> float:
        if not self._sigma:
            return self.latency
        return self.latency * math.exp(self._sigma * self._rng.gauss(0.0, 1.0))

    def _response(self, req: Request, reply: Reply) -> web.Response:
        if reply.body is not None:
            data = reply.body.encode() if isinstance(reply.body, str) else reply.body
            return web.Response(body=data, status=reply.status, headers=reply.headers, content_type="application/json")
        if reply.status != 200:
            err = {"message": reply.error_message, "type": "invalid_request_error" if reply.status < 500 else "server_error",
                   "code": reply.error_code}
            return web.json_response({"error": err}, status=reply.status, headers=reply.headers)
        return web.json_response(completion_body(req, reply), headers=reply.headers)


def start_server(
    script: Script = None,
    *,
    log_path: str | os.PathLike[str] | None = None,
    latency: float = 0.0,
    api_key: str | None = None,
    model: str = "test-model",
) -> Server:
    """Start a server on 127.0.0.1 (a free port) in a background thread; use as a context manager."""
    return Server(script, log_path=log_path, latency=latency, api_key=api_key, model=model).start()


def read_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Entries of a JSONL request log (a torn last line is ignored)."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


@dataclasses.dataclass
class ServerProcess:
    """A server running in subprocesses (see :func:`spawn_server`)."""

    proc: subprocess.Popen[str]
    base_url: str
    log_path: str | None

    def stop(self) -> None:
        """Terminate the server (and its worker processes)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def requests(self) -> list[dict[str, Any]]:
        """The request log so far (needs ``log_path``)."""
        return read_log(self.log_path) if self.log_path else []

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spawn_server(
    *,
    latency: float = 0.0,
    log_path: str | os.PathLike[str] | None = None,
    workers: int = 1,
    script: str | None = None,
    api_key: str | None = None,
    port: int = 0,
    python: str | None = None,
    latency_p99: float | None = None,
    log_light: bool = False,
    nice: int = 0,
    profile: str | None = None,
) -> ServerProcess:
    """Run the server as a subprocess (``workers`` processes sharing the port with SO_REUSEPORT).

    Args:
        latency: Fixed seconds before every answer.
        log_path: JSONL request log (appended; flushed per request).
        workers: Server processes.
        script: ``module:function`` script for every request.
        api_key: Require this bearer key (401 otherwise).
        port: 0: a free port.
        python: Interpreter (default: this one).
        latency_p99: Log-normal answer times (``latency`` the median, this the 99th percentile).
        log_light: One log line per answered request with its start and end, no body.
        nice: Added to the server's niceness (a benchmark gives it the niceness of the Ray
            workers it shares the cores with).
        profile: A named answer-time profile (:data:`PROFILES`, e.g. ``reasoning``) instead of
            ``latency``/``latency_p99``.
    """
    cmd = [python or sys.executable, str(Path(__file__).resolve()), "--port", str(port), "--latency", str(latency),
           "--workers", str(workers)]
    if log_path:
        cmd += ["--log", str(log_path)]
    if script:
        cmd += ["--script", script]
    if api_key:
        cmd += ["--api-key", api_key]
    if latency_p99:
        cmd += ["--latency-p99", str(latency_p99)]
    if log_light:
        cmd += ["--log-light"]
    if profile:
        cmd += ["--profile", profile]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    if nice:
        cmd = ["nice", "-n", str(nice), *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"test server did not start: {line!r}")
    return ServerProcess(proc, line.split()[1], str(log_path) if log_path else None)


def _load_script(spec: str | None) -> Script:
    if not spec:
        return None
    mod, _, fn = spec.partition(":")
    return getattr(importlib.import_module(mod), fn)


def _serve(args: argparse.Namespace, port: int, reuse_port: bool, ready_fd: int | None) -> None:
    srv = Server(_load_script(args.script), port=port, log_path=args.log, latency=args.latency,
                 api_key=args.api_key, reuse_port=reuse_port, latency_p99=args.latency_p99,
                 log_light=args.log_light, seed=args.seed + os.getpid(), profile=args.profile)

    async def main() -> None:
        import signal

        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(srv.serve_forever())
        while srv._stop_event is None or not srv.base_url:
            await asyncio.sleep(0.01)
        loop.add_signal_handler(signal.SIGTERM, srv._stop_event.set)
        loop.add_signal_handler(signal.SIGINT, srv._stop_event.set)
        if ready_fd is not None:
            os.write(ready_fd, b"x")
            os.close(ready_fd)
        else:
            print(f"READY {srv.base_url}", flush=True)
        await task

    asyncio.run(main())


def build_parser() -> argparse.ArgumentParser:
    """The command line of the server process."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--latency", type=float, default=0.0, help="seconds before every answer")
    p.add_argument("--log", default=None, help="JSONL request log")
    p.add_argument("--workers", type=int, default=1, help="server processes sharing the port (SO_REUSEPORT)")
    p.add_argument("--script", default=None, help="module:function answering each request")
    p.add_argument("--api-key", default=None, help="require this bearer key")
    p.add_argument("--latency-p99", type=float, default=None,
                   help="log-normal answer times: --latency is the median, this the 99th percentile")
    p.add_argument("--log-light", action="store_true",
                   help="log one line per answered request (t, t_end, key, status), no body")
    p.add_argument("--seed", type=int, default=0, help="seed of the latency draws")
    p.add_argument("--profile", choices=sorted(PROFILES), default=None,
                   help="a named answer-time profile instead of --latency/--latency-p99 (reasoning: answer "
                        "time from the answer's length, median 2 s, p99 20 s, 0.1%% of answers at 60-120 s)")
    return p


def main(argv: list[str] | None = None) -> None:
    """CLI entry: serve until SIGTERM."""
    args = build_parser().parse_args(argv)
    if args.workers <= 1:
        _serve(args, args.port, False, None)
        return
    # Reserve the port, then let every worker listen on it with SO_REUSEPORT.
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind(("127.0.0.1", args.port))
    port = holder.getsockname()[1]
    children = []
    for _ in range(args.workers):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            holder.close()
            _serve(args, port, True, w)
            os._exit(0)
        os.close(w)
        os.read(r, 1)
        os.close(r)
        children.append(pid)
    print(f"READY http://127.0.0.1:{port}/v1", flush=True)
    import signal

    def forward(signum: int, _frame: Any) -> None:
        for c in children:
            try:
                os.kill(c, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for c in children:
        try:
            os.waitpid(c, 0)
        except ChildProcessError:
            pass


if __name__ == "__main__":
    main()
