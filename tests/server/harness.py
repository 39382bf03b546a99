"""``memgpt-tui serve`` as a real subprocess on a free loopback port, its model and embeddings on the
OpenAI-compatible fake."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

from memgpt_tui import runtime
from memgpt_tui.config import Settings
from memgpt_tui.server.app import build_app
from tests.fakes.openai_server import FakeOpenAIServer, unused_port

ROOT = Path(__file__).resolve().parents[2]
BODY_LIMIT = 200_000  # bytes: small, so that the 413 test sends little


def server_env(home: Path, fake: FakeOpenAIServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMGPT_TUI_", "OPENAI_", "LETTA_"))}
    return {
        **env,
        "MEMGPT_TUI_HOME": str(home),
        "MEMGPT_TUI_BACKEND": "openai-compatible",
        "MEMGPT_TUI_BASE_URL": fake.base_url,
        "MEMGPT_TUI_MODEL": "fake-model",
        "MEMGPT_TUI_NO_VERIFY": "1",
        "MEMGPT_TUI_EMBEDDING_BACKEND": "openai-compatible",
        "MEMGPT_TUI_EMBEDDING_BASE_URL": fake.base_url,
        "MEMGPT_TUI_EMBEDDING_MODEL": "fake-embed",
        "MEMGPT_TUI_SERVE__BODY_LIMIT": str(BODY_LIMIT),
        "PYTHONPATH": str(ROOT),
    }


@dataclass
class Served:
    """One ``memgpt-tui serve`` process."""

    home: Path
    fake: FakeOpenAIServer
    port: int
    process: subprocess.Popen[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def http(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def log(self) -> str:
        path = self.home / "logs" / "memgpt-tui.log"
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> str:
        """Signal the server and wait for it; returns what it printed."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        out, _ = self.process.communicate(timeout=timeout)
        return out


def start(home: Path, fake: FakeOpenAIServer, *args: str, port: int | None = None, **env: str) -> Served:
    """``port``: this one (a server started again), else a free one; ``env``: more settings."""
    port = port or unused_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "memgpt_tui", "serve", "--port", str(port), *args],
        env={**server_env(home, fake), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    served = Served(home, fake, port, process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited: {process.communicate()[0]}")
        try:
            if httpx.get(f"{served.url}/v1/health/", timeout=1).status_code == 200:
                return served
        except httpx.TransportError:
            time.sleep(0.05)
    served.stop(signal.SIGKILL)
    raise AssertionError("serve did not answer within 60 s")


@contextlib.contextmanager
def in_process(
    home: Path, fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, **env: str
) -> Iterator[TestClient]:
    """The server's app in this process (no subprocess to wait for), on ``start``'s settings plus
    ``env``, called as a client on loopback calls it."""
    for name, value in {**server_env(home, fake), **env}.items():
        if name.startswith("MEMGPT_TUI_"):
            monkeypatch.setenv(name, value)
    settings = Settings.load()
    app = build_app(settings, runtime.accounts(settings, settings.serve.db))
    with TestClient(
        app, base_url=f"http://127.0.0.1:{settings.serve.port}", raise_server_exceptions=False
    ) as client:
        yield client


def answered_without_a_query(client: TestClient, path: str, token: str | None = None) -> bool:
    """GET ``path`` (a 200), and whether the accounts database was sent no statement meanwhile (by
    any engine of this process, where the in-process server runs)."""
    sent: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        sent.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        answer = client.get(path, headers={"Authorization": f"Bearer {token}"} if token else {})
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert answer.status_code == 200, answer.text
    return not sent
