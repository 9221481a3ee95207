"""A small OpenAI-protocol server for the Magpie tests: ``/v1/completions`` and ``/v1/chat/completions``.

Answers come from a script (a function of the parsed body returning text, or an int HTTP status
for a failure); every request body is logged. Runs on 127.0.0.1 in a background thread.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

from aiohttp import web

Answer = Callable[[str, dict[str, Any]], "str | int"]


class CompletionsServer:
    """Start with ``with CompletionsServer(answer) as srv``; ``srv.base_url`` ends with /v1."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def paths(self) -> list[str]:
        return [p for p, _ in self.requests]

    async def _handle(self, request: web.Request) -> web.Response:
        path = request.path.removeprefix("/v1")
        body = json.loads(await request.read())
        self.requests.append((path, body))
        out = self.answer(path, body)
        if isinstance(out, int):
            return web.json_response({"error": {"message": "scripted failure"}}, status=out)
        usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        if path == "/completions":
            choice = {"index": 0, "text": out, "finish_reason": "stop"}
            return web.json_response({"object": "text_completion", "choices": [choice], "usage": usage})
        choice = {"index": 0, "message": {"role": "assistant", "content": out}, "finish_reason": "stop"}
        return web.json_response({"object": "chat.completion", "choices": [choice], "usage": usage})

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/v1/completions", self._handle)
        app.router.add_post("/v1/chat/completions", self._handle)
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._runner = runner
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> CompletionsServer:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
