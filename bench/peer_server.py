"""The original MemGPT's server (pymemgpt 0.3.25, ``memgpt server``) on the same fake, for a side-by-side.

It lives in a virtual environment of its own (its pins clash with ours); ``MEMGPT_PEER_PYTHON`` names
that environment's Python. Its home (``~/.memgpt``: config, credentials, SQLite and Chroma) is a
temporary directory given as ``HOME``. Users are made through its admin API (the admin password as
bearer), agents and messages through its ``/api`` paths with each user's API key, over httpx: the
letta-client speaks a later API than this server.
"""

from __future__ import annotations

import configparser
import json
import os
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from .common import server_process

PASSWORD = "bench-admin-password"


def peer_python() -> tuple[str | None, str]:
    """(the peer's Python, "") or (None, why the peer is skipped)."""
    python = os.environ.get("MEMGPT_PEER_PYTHON")
    if not python:
        return None, "MEMGPT_PEER_PYTHON is not set (a Python with pymemgpt 0.3.25 installed)"
    if not Path(python).exists():
        return None, f"MEMGPT_PEER_PYTHON names {python}, which does not exist"
    found = subprocess.run(
        [python, "-c", "import memgpt; print(memgpt.__version__)"], capture_output=True, text=True
    )
    if found.returncode != 0:
        return None, f"{python} cannot import memgpt: {found.stderr.strip().splitlines()[-1:]}"
    return python, ""


def write_config(home: Path, base_url: str) -> None:
    """What ``memgpt configure`` would write for an OpenAI-compatible endpoint at ``base_url``."""
    root = home / ".memgpt"
    root.mkdir(parents=True)
    config = configparser.ConfigParser()
    config.read_dict(
        {
            "defaults": {"preset": "memgpt_chat", "persona": "sam_pov", "human": "basic"},
            "model": {
                "model": "fake-model",
                "model_endpoint": base_url,
                "model_endpoint_type": "openai",
                "context_window": "8192",
            },
            "embedding": {
                "embedding_endpoint_type": "openai",
                "embedding_endpoint": base_url,
                "embedding_model": "fake-embed",
                "embedding_dim": "384",
                "embedding_chunk_size": "300",
            },
            "archival_storage": {"type": "chroma", "path": str(root / "chroma")},
            "recall_storage": {"type": "sqlite", "path": str(root)},
            "metadata_storage": {"type": "sqlite", "path": str(root)},
            "version": {"memgpt_version": "0.3.25"},
            "client": {"anon_clientid": str(uuid.UUID(int=0))},
        }
    )
    with (root / "config").open("w") as f:
        config.write(f)
    credentials = configparser.ConfigParser()
    credentials.read_dict({"openai": {"key": "sk-fake"}})
    with (root / "credentials").open("w") as f:
        credentials.write(f)


def peer_env(home: Path) -> dict[str, str]:
    """The environment the peer runs in: ``home`` as its ``HOME``, none of our settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMGPT_", "OPENAI_", "PYTHONPATH"))}
    return env | {"HOME": str(home), "OPENAI_API_KEY": "sk-fake"}


@contextmanager
def peer_serving(python: str, base_url: str, log: Path) -> Iterator[tuple[str, int]]:
    """``memgpt server`` on a free loopback port over a temporary home: its URL and process id."""
    with tempfile.TemporaryDirectory(prefix="memgpt-bench-peer-") as tmp:
        home = Path(tmp)
        write_config(home, base_url)
        env = peer_env(home) | {"MEMGPT_SERVER_PASS": PASSWORD}
        with (
            log.open("w") as out,
            server_process(
                lambda port: [python, "-m", "memgpt", "server", "--port", str(port), "--host", "127.0.0.1"],
                "/openapi.json",
                signal.SIGINT,
                env=env,
                cwd=tmp,
                stdout=out,
                stderr=subprocess.STDOUT,
            ) as served,
        ):
            yield served


def starter_memory(python: str) -> dict[str, str]:
    """The peer's own example persona (Sam) and human: its REST API takes their text, not names."""
    code = (
        "import json, memgpt, pathlib; root = pathlib.Path(memgpt.__file__).parent; print(json.dumps({"
        "'persona': (root / 'personas/examples/sam.txt').read_text(), "
        "'human': (root / 'humans/examples/basic.txt').read_text()}))"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def said(record: dict[str, Any]) -> bool:
    """Whether a record of the peer's is the assistant speaking (its send_message call, in 0.3.25)."""
    call = record.get("function_call")
    return "assistant_message" in record or (isinstance(call, dict) and call.get("name") == "send_message")


class PeerDriver:
    """The original server's REST API over httpx: a user (and API key) per index, made on demand."""

    def __init__(self, url: str, memory: dict[str, str]) -> None:
        self.http = httpx.AsyncClient(base_url=url, timeout=300)
        self.keys: dict[int, str] = {}
        self.memory = memory

    async def _key(self, user: int) -> str:
        if user not in self.keys:
            made = await self.http.post(
                "/admin/users", json={}, headers={"Authorization": f"Bearer {PASSWORD}"}
            )
            made.raise_for_status()
            self.keys[user] = made.json()["api_key"]
        return self.keys[user]

    async def add_agent(self, user: int, name: str) -> tuple[str, str]:
        key = await self._key(user)
        made = await self.http.post(
            "/api/agents",
            json={"config": {"name": name, **self.memory}},
            headers={"Authorization": f"Bearer {key}"},
        )
        made.raise_for_status()
        return key, made.json()["agent_state"]["id"]

    async def message(self, agent: tuple[str, str], text: str) -> None:
        key, agent_id = agent
        reply = await self.http.post(
            f"/api/agents/{agent_id}/messages",
            json={"message": text, "stream_steps": False},
            headers={"Authorization": f"Bearer {key}"},
        )
        reply.raise_for_status()
        if not any(said(m) for m in reply.json()["messages"]):
            raise RuntimeError(f"a reply without the assistant's message: {reply.text[:200]}")

    async def stream(self, agent: tuple[str, str], text: str) -> None:
        key, agent_id = agent
        records: list[Any] = []
        async with self.http.stream(
            "POST",
            f"/api/agents/{agent_id}/messages",
            json={"message": text, "stream_steps": True},
            headers={"Authorization": f"Bearer {key}"},
        ) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    data = line.removeprefix("data: ")
                    records.append(data if data.startswith("[") else json.loads(data))
        if any(isinstance(r, dict) and "error" in r for r in records):
            raise RuntimeError(f"the stream reported an error: {records}")
        if "[DONE]" not in records or not any(isinstance(r, dict) and said(r) for r in records):
            raise RuntimeError(f"incomplete stream: {str(records)[:200]}")

    async def close(self) -> None:
        await self.http.aclose()
