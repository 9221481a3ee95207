"""HTTP transports for the chat client: POST a JSON body, give back status, headers and body.

Two implementations:

- :class:`AioHttpTransport` (default): one ``aiohttp`` session per client with a connection
  pool as large as ``max_in_flight``. Measured here it costs a fraction of the OpenAI SDK's
  per-request CPU (see bench/llm_throughput.py), which is what keeps thousands of requests in
  flight on two cores.
- :class:`OpenAISDKTransport`: the ``openai`` package's ``AsyncOpenAI`` on its aiohttp HTTP
  client (``DefaultAioHttpClient``) with the connection limit raised from the SDK's 1,000 to
  ``max_in_flight`` and the SDK's own retries off (the client counts its own).

Both return the raw response; status handling, retries and parsing live in the client, so the two
behave identically. Tests may pass any object with the same ``post``/``aclose`` methods.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RawResponse:
    """One HTTP answer."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class TransportError(Exception):
    """A request that got no HTTP answer: ``kind`` is ``timeout`` or ``connection``."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class Transport:
    """Interface: POST ``payload`` (JSON bytes) to ``base_url + path``.

    A transport that sets ``reports_sent`` takes ``on_sent``: a callable it calls once the request
    has left the process (its headers were written to the connection). The client counts a hedge
    copy as sent, and billable, only from then on: a copy cancelled while it still waited for a
    connection never reached the endpoint. A transport without it has every send it started
    counted (an upper bound).
    """

    reports_sent = False

    async def post(self, path: str, payload: bytes) -> RawResponse:  # pragma: no cover - interface
        raise NotImplementedError

    async def aclose(self) -> None:  # pragma: no cover - interface
        return None


class AioHttpTransport(Transport):
    """aiohttp session with a pool of ``max_connections`` keep-alive connections.

    The session is created lazily on the event loop that first uses it. With ``report_sent``,
    ``on_sent`` is called from aiohttp's request tracing once the request's headers were written;
    without it no trace runs (~11 us of CPU per request, measured, that only hedging needs).
    """

    def __init__(self, base_url: str, api_key: str | None, max_connections: int, timeout_s: float,
                 report_sent: bool = False) -> None:
        self.base_url = base_url.rstrip("/")
        self.reports_sent = report_sent
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._max_connections = max_connections
        self._timeout_s = timeout_s
        self._sessions: dict[asyncio.AbstractEventLoop, Any] = {}
        import aiohttp  # noqa: F401  (import now, not on the first request: keeps its latency true)

    def _get_session(self) -> Any:
        import aiohttp

        # A session belongs to the event loop that made it: one per loop that uses this transport.
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=0,
                ttl_dns_cache=300,
                keepalive_timeout=60,
            )
            tracing = aiohttp.TraceConfig()
            tracing.on_request_headers_sent.append(_headers_sent)
            session = aiohttp.ClientSession(
                connector=connector,
                trace_configs=[tracing] if self.reports_sent else None,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=self._timeout_s),
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent",),
            )
            self._sessions[loop] = session
        return session

    async def post(self, path: str, payload: bytes, on_sent: Callable[[], None] | None = None) -> RawResponse:
        import aiohttp

        session = self._get_session()
        try:
            async with session.post(self.base_url + path, data=payload, trace_request_ctx=on_sent) as resp:
                body = await resp.read()
                return RawResponse(resp.status, body, resp.headers)
        except asyncio.TimeoutError:
            raise TransportError("timeout", f"no answer within {self._timeout_s:g}s") from None
        except (aiohttp.ClientError, OSError) as e:
            raise TransportError("connection", f"{type(e).__name__}: {e}"[:300]) from None

    async def aclose(self) -> None:
        current = asyncio.get_running_loop()
        sessions, self._sessions = self._sessions, {}
        for loop, session in sessions.items():
            if session.closed:
                continue
            if loop is current:
                await session.close()
            elif loop.is_running():
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(session.close(), loop))
            # A session of a stopped loop is left to the garbage collector.


async def _headers_sent(session: Any, ctx: Any, params: Any) -> None:
    on_sent = ctx.trace_request_ctx
    if on_sent is not None:
        on_sent()


class OpenAISDKTransport(Transport):
    """``AsyncOpenAI`` with ``DefaultAioHttpClient``, raised connection limits and no SDK retries."""

    def __init__(self, base_url: str, api_key: str | None, max_connections: int, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key or "none"
        self._max_connections = max_connections
        self._timeout_s = timeout_s
        self._client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        import openai  # noqa: F401  (import now, not on the first request)

    def _get_client(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._client_loop is not loop:
            raise RuntimeError("OpenAISDKTransport: used from a second event loop; use one loop per client")
        if self._client is None:
            self._client_loop = loop
            import httpx2
            from openai import AsyncOpenAI, DefaultAioHttpClient

            http_client = DefaultAioHttpClient(
                limits=httpx2.Limits(
                    max_connections=self._max_connections,
                    max_keepalive_connections=self._max_connections,
                ),
                timeout=self._timeout_s,
            )
            self._client = AsyncOpenAI(
                base_url=self.base_url,
                api_key=self._api_key,
                max_retries=0,
                timeout=self._timeout_s,
                http_client=http_client,
            )
        return self._client

    async def post(self, path: str, payload: bytes) -> RawResponse:
        import httpx2
        import openai

        client = self._get_client()
        try:
            resp = await client.post(
                path,
                cast_to=httpx2.Response,
                content=payload,
                options={"headers": {"Content-Type": "application/json"}},
            )
            return RawResponse(resp.status_code, resp.content, resp.headers)
        except openai.APIStatusError as e:
            return RawResponse(e.status_code, e.response.content, e.response.headers)
        except openai.APITimeoutError:
            raise TransportError("timeout", f"no answer within {self._timeout_s:g}s") from None
        except openai.APIConnectionError as e:
            raise TransportError("connection", f"{type(e).__name__}: {e}"[:300]) from None

    async def aclose(self) -> None:
        client, loop, self._client = self._client, self._client_loop, None
        if client is None:
            return
        if loop is None or loop is asyncio.get_running_loop():
            await client.close()
        elif loop.is_running():
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(client.close(), loop))


def make_transport(kind: str, *, base_url: str, api_key: str | None, max_connections: int, timeout_s: float,
                   report_sent: bool = False) -> Transport:
    """Build a transport by name (``aiohttp`` or ``openai``); ``report_sent``: have it report when
    each request leaves, where it can (see :class:`Transport`)."""
    if kind == "aiohttp":
        return AioHttpTransport(base_url, api_key, max_connections, timeout_s, report_sent=report_sent)
    if kind == "openai":
        return OpenAISDKTransport(base_url, api_key, max_connections, timeout_s)
    raise ValueError(f"unknown transport {kind!r} (aiohttp, openai)")
