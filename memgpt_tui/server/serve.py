"""``memgpt-tui serve``: check where it may listen, then run the app under uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable
from types import FrameType

import uvicorn

from .. import runtime
from ..config import ConfigError, Settings, setup_logging
from .app import build_app
from .context import is_loopback

log = logging.getLogger(__name__)


class _Uvicorn(uvicorn.Server):
    """uvicorn's server, that also ends the event streams when told to stop: a graceful shutdown waits
    for every open connection, and an event stream stays open until its client leaves."""

    def __init__(self, on_exit: Callable[[], None], config: uvicorn.Config, ready: str) -> None:
        super().__init__(config)
        self.on_exit = on_exit
        self.ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:  # listening: only now say where
            print(self.ready, flush=True)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self.on_exit()


def serve(settings: Settings, *, debug: bool = False) -> int:
    config = settings.serve
    path = setup_logging(debug)
    for client in ("httpx", "httpx2"):  # a line per model call; the access log has one per request
        logging.getLogger(client).setLevel(logging.DEBUG if debug else logging.WARNING)
    accounts = runtime.accounts(settings, config.db)
    try:  # the app closes the accounts when it stops; here only if it never starts
        if not accounts.has_users():
            if not is_loopback(config.host):
                raise ConfigError(
                    f"Refusing to listen on {config.host}: no users exist yet, so the server would answer "
                    "anyone without a token. Create one (memgpt-tui users add NAME) or serve on 127.0.0.1."
                )
            print(
                "No users yet: serving the home's agents as its local owner, without tokens, on loopback only.",
                flush=True,
            )
        else:
            print(
                "Requests need Authorization: Bearer TOKEN (memgpt-tui users token NAME makes one).",
                flush=True,
            )
        app = build_app(settings, accounts)
        server = _Uvicorn(
            app.state.server.stop_streams,
            uvicorn.Config(
                app,
                host=config.host,
                port=config.port,
                log_config=None,  # our log file, with keys redacted
                timeout_graceful_shutdown=int(config.shutdown_deadline),
                server_header=False,
            ),
            f"memgpt-tui serving on http://{config.host}:{config.port} (API docs at /docs; log: {path})",
        )
        with contextlib.suppress(SystemExit):  # uvicorn's answer to an address it cannot bind
            server.run()
    except BaseException:
        accounts.close()
        raise
    if not server.started:
        accounts.close()
        raise ConfigError(f"Could not listen on {config.host}:{config.port} (is the port in use?).")
    return 0
