"""What the review and arena apps share: the safety checks, error handling, the launch.

(Durable storage lives in ``luxit_ray.web.store``.)

Safety: servers bind 127.0.0.1 by default. Binding any other interface needs a token (one is
generated when none is given) that every request carries (``?token=`` once, then a cookie, or
the ``X-Luxit-Token`` header); the printed URL carries it. The cookie is named after the port
(``luxit_token_8765``): browsers share cookies between the ports of one host, so a review page
and an arena on one host with different tokens must not overwrite each other's. On loopback the
``Host`` header must name the loopback too (a DNS-rebinding page cannot reach the server);
``127.0.0.1``, ``localhost`` and ``[::1]`` are allowed, with any port. Errors are JSON
``{"error": message}`` with a 4xx status; requests never name files: every path the apps touch
is built from the run folder and validated names.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from luxit_ray.errors import LuxitError
from luxit_ray.web.store import NAME_PATTERN, ApiError, AppendLog, check_name, write_atomic

__all__ = ["TEMPLATES", "ApiError", "AppendLog", "base_app", "check_name", "cookie_name", "host_name", "resolve_token",
           "run_uvicorn", "server_url", "start_page", "write_atomic"]

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
LOOPBACK = ("127.0.0.1", "localhost", "::1")
TOKEN_COOKIE = "luxit_token"  # + "_<port>"
TOKEN_HEADER = "x-luxit-token"


# ==== app plumbing ======================================================================


def is_loopback(host: str) -> bool:
    """True for 127.0.0.1, localhost and ::1."""
    return host in LOOPBACK


def host_name(host_header: str) -> str:
    """The host of a ``Host`` header without its port: ``[::1]:8765`` -> ``::1``, ``localhost:80``
    -> ``localhost``."""
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[1:h.index("]")] if "]" in h else h
    return h.rpartition(":")[0] if h.count(":") == 1 else h


def cookie_name(port: int | None) -> str:
    """The token cookie of the server on ``port``."""
    return f"{TOKEN_COOKIE}_{port or 80}"


def resolve_token(host: str, token: str | None) -> str | None:
    """The token the server will require: the given one, or a fresh one when ``host`` is not the
    loopback (None on loopback without one)."""
    if token is not None and len(token) < 16:
        raise LuxitError("--token must be at least 16 characters (or leave it out to get a generated one)")
    if token is None and not is_loopback(host):
        return secrets.token_urlsafe(24)
    return token


def server_url(host: str, port: int, token: str | None, path: str = "/") -> str:
    """The URL to print; it carries the token when there is one."""
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):
        shown = "127.0.0.1"  # a browser on this machine; other machines use this machine's name
    q = f"?token={token}" if token else ""
    return f"http://{shown}:{port}{path}{q}"


def base_app(title: str, host: str, token: str | None) -> FastAPI:
    """A FastAPI app with the JSON error handlers, the token check, the Host check and /static."""
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for e in exc.errors():
            if e.get("type") == "json_invalid":
                problems.append("the request body is not valid JSON")
                continue
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            problems.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
        return JSONResponse({"error": "; ".join(problems) or "invalid request"}, status_code=422)

    if token:
        @app.middleware("http")
        async def _token(request: Request, call_next: Callable[[Request], Any]) -> Any:
            cookie = cookie_name(request.url.port)
            given = request.query_params.get("token") or request.headers.get(TOKEN_HEADER) \
                or request.cookies.get(cookie) or ""
            if not secrets.compare_digest(given.encode(), token.encode()):
                return PlainTextResponse("missing or wrong token: open the URL the serve command printed", status_code=401)
            response = await call_next(request)
            if request.query_params.get("token"):
                response.set_cookie(cookie, token, httponly=True, samesite="strict")
            return response

    if is_loopback(host):
        # Added last, so it runs first: a foreign Host gets 400 before the token is looked at.
        @app.middleware("http")
        async def _loopback_host(request: Request, call_next: Callable[[Request], Any]) -> Any:
            if host_name(request.headers.get("host", "")) not in LOOPBACK:
                return PlainTextResponse("Invalid host header", status_code=400)
            return await call_next(request)

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    return app


def start_page(request: Request, context: dict[str, Any], error: str | None = None, given: str = "") -> HTMLResponse:
    """The start page (a name form); with ``error``, status 400 and the problem shown above the
    form, the name as typed kept in the field."""
    return TEMPLATES.TemplateResponse(request, "start.html", {**context, "error": error, "given": given,
                                                             "pattern": NAME_PATTERN},
                                      status_code=400 if error else 200)


def run_uvicorn(app: FastAPI, host: str, port: int) -> None:
    """Serve ``app`` until interrupted. The access log stays off: URLs may carry the token."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")
