"""The ASGI app: routes, the answers for bad input and failures (a sentence, never a traceback), the
body limit, CORS, and the pool's lifetime."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import ConfigError, Settings
from ..model.errors import AccountError, AgentError, AgentLocked, LLMError, NameTaken, NotFound, StoreError
from ..model.text import redact
from . import attached, letta, own
from .context import Server, is_loopback
from .pool import RETRY_AFTER, Busy, Pool

if TYPE_CHECKING:
    from ..store.accounts import Accounts

log = logging.getLogger(__name__)


def build_app(settings: Settings, accounts: Accounts) -> FastAPI:
    pool = Pool(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.server.loop = asyncio.get_running_loop()
        reaper = asyncio.create_task(pool.reap(), name="idle-agents")
        try:
            yield
        finally:
            reaper.cancel()
            await pool.shutdown(settings.serve.shutdown_deadline)
            await asyncio.to_thread(accounts.close)
            log.info("stopped; every agent was closed")

    app = FastAPI(
        title="memgpt-tui",
        version=letta.API_VERSION,
        lifespan=lifespan,
        description="MemGPT agents over HTTP: Letta-compatible paths and memgpt-tui's own under /v1/x-memgpt.",
    )
    app.state.server = Server(settings, accounts, pool, is_loopback(settings.serve.host))
    app.include_router(letta.router)
    app.include_router(own.router)
    app.include_router(attached.router)
    _handlers(app)
    app.add_api_route(
        "/{path:path}",
        _not_here,
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    if settings.serve.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.serve.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(BodyLimit, limit=settings.serve.body_limit)
    app.add_middleware(Guard, hosts=_host_names(settings), origins=settings.serve.cors_origins)
    return app


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("0.0.0.0", "::", "")


def _host_names(settings: Settings) -> set[str] | None:
    """The names a request may give in its Host header; None (any) on a wildcard address with no
    ``[serve] hosts``, where every request needs a token anyway."""
    config = settings.serve
    if config.host in WILDCARDS and not config.hosts:
        return None
    return {name.lower() for name in (*LOOPBACK_NAMES, config.host, *config.hosts)}


async def _not_here(request: Request) -> JSONResponse:
    return _error(
        501,
        f"{request.method} {request.url.path} is not something this server does: it serves the part of "
        "Letta's API listed in its README, and its own paths under /v1/x-memgpt/ (see /docs).",
    )


def _error(status: int, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": redact(detail)}, status_code=status, headers=dict(headers or {}))


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, validation_sentence(exc.errors()))

    @app.exception_handler(HTTPException)
    async def http(request: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(Busy)
    async def busy(request: Request, exc: Busy) -> JSONResponse:
        return _error(409, str(exc), {"Retry-After": str(RETRY_AFTER)})

    statuses: list[tuple[type[Exception], int]] = [
        (AgentLocked, 409),
        (NameTaken, 409),
        (AccountError, 422),
        (NotFound, 404),
        (StoreError, 400),
        (AgentError, 400),
        (ConfigError, 422),
        (LLMError, 502),
    ]
    for kind, status in statuses:
        app.add_exception_handler(kind, _answer(status))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return _error(500, f"Unexpected error ({type(exc).__name__}); details are in the server log.")


def _answer(status: int) -> Any:
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return _error(status, str(exc))

    return handler


def validation_sentence(errors: Any) -> str:
    """FastAPI's validation errors as one sentence a person can act on."""
    parts = []
    for error in list(errors)[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
        if error.get("type") == "json_invalid":
            return "The request body is not valid JSON."
        parts.append(f"{where or 'the body'}: {error.get('msg', 'is not valid')}")
    return "The request is not valid: " + "; ".join(parts) + "."


class Guard:
    """A request must name this server in its Host header (a DNS-rebinding page names its own), and a
    browser's request must come from the server's own origin or one named in ``cors_origins``: a form
    posted from another site needs no preflight, so CORS alone would not stop it."""

    def __init__(self, app: ASGIApp, hosts: set[str] | None, origins: list[str]) -> None:
        self.app = app
        self.hosts = hosts
        self.origins = set(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            host = headers.get("host", "")
            if self.hosts is not None and _hostname(host) not in self.hosts:
                await _error(400, f"This server does not answer for host {host!r} ([serve] hosts).")(
                    scope, receive, send
                )
                return
            origin = headers.get("origin")
            if origin is not None and origin not in self.origins and urlsplit(origin).netloc != host:
                await _error(
                    403, "Requests from other sites' pages are refused unless --cors-origin names them."
                )(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _hostname(host: str) -> str:
    try:
        return (urlsplit(f"//{host}").hostname or "").lower()
    except ValueError:
        return ""


class BodyLimit:
    """413 for a body over ``limit`` bytes, whether it declares its length or streams it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _error(413, self._sentence())(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:  # the route reading the body answers it
                raise HTTPException(413, self._sentence())
            return message

        await self.app(scope, counted, send)

    def _sentence(self) -> str:
        return f"The request body is over this server's limit of {self.limit:,} bytes ([serve] body_limit)."
