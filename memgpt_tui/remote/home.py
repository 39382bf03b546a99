"""A server's agents, as a local home's: the list the picker shows, and opening one by name or id."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ..model.errors import AgentError
from ..store.registry import AgentInfo
from .agent import OWN, RemoteAgent
from .connection import Connection, ServerError


async def connect(url: str, token: str | None) -> Connection:
    """A connection the server has accepted (reachable, our API version, the token taken)."""
    connection = Connection(url, token)
    try:
        await connection.check()
    except BaseException:
        await connection.aclose()
        raise
    return connection


async def agents(connection: Connection) -> list[dict[str, Any]]:
    """The caller's agents with the picker's counts (``id``, ``name``, ``messages``, ...)."""
    found: list[dict[str, Any]] = await connection.call("GET", OWN)
    return found


async def open_agent(connection: Connection, name: str) -> RemoteAgent:
    """The agent called ``name`` (or with that id); the connection becomes the agent's."""
    return await RemoteAgent.open(connection, (await _find(connection, name))["id"])


async def _find(connection: Connection, name: str) -> dict[str, Any]:
    listed = await agents(connection)
    match = next((a for a in listed if name in (a["name"], a["id"])), None)
    if match is None:
        names = ", ".join(a["name"] for a in listed) or "none yet"
        raise ServerError(f"No agent named {name!r} on {connection.url} (its agents: {names}).", 404)
    return match


async def create(connection: Connection, name: str, blocks: dict[str, str], **settings: Any) -> str:
    """A new agent on the server, with these core memory blocks (``settings``: Letta's ``model``,
    ``context_window_limit``, ``system``); answers its id."""
    body = {"name": name, "memory_blocks": [{"label": k, "value": v} for k, v in blocks.items()], **settings}
    created = await connection.call("POST", "/v1/agents/", json=body)
    return str(created["id"])


async def import_file(connection: Connection, path: Path, name: str | None = None) -> str:
    """An export of ours (.zip) or a Letta Agent File, uploaded and imported there; answers its name."""
    path = path.expanduser()
    if path.is_dir():
        raise AgentError(
            f"{path} is a folder: a MemGPT home is imported on the server's machine (memgpt-tui import). "
            "Upload a memgpt-tui export (.zip) or a Letta Agent File (.af)."
        )
    if not path.is_file():
        raise AgentError(f"No such file: {path}")
    data = await asyncio.to_thread(path.read_bytes)
    form = {"name": name} if name else None
    answer = await connection.call(
        "POST", f"{OWN}/import", files={"file": (path.name, data)}, data=form, timeout=None
    )
    return str(answer["name"])


async def delete(connection: Connection, name: str) -> None:
    await connection.call("DELETE", f"/v1/agents/{(await _find(connection, name))['id']}")


class Server:
    """A server as the TUI's source of agents (``model.handle.AgentSource``): each agent opened gets a
    connection of its own."""

    def __init__(self, url: str, token: str | None) -> None:
        self.where = url.rstrip("/")
        self._token = token

    @contextlib.asynccontextmanager
    async def _connected(self) -> AsyncIterator[Connection]:
        connection = await connect(self.where, self._token)
        try:
            yield connection
        finally:
            await connection.aclose()

    async def infos(self) -> list[AgentInfo]:
        async with self._connected() as connection:
            unknown = {"backend": "?", "model": "?", "last_used": None, "messages": 0, "archival": 0}
            return [AgentInfo.model_validate(unknown | row) for row in await agents(connection)]

    async def open(self, name: str) -> RemoteAgent:
        connection = await connect(self.where, self._token)
        try:
            return await open_agent(connection, name)
        except BaseException:
            await connection.aclose()
            raise

    async def import_file(self, path: Path, name: str | None = None) -> str:
        async with self._connected() as connection:
            return await import_file(connection, path, name)

    async def delete(self, name: str) -> None:
        async with self._connected() as connection:
            await delete(connection, name)
