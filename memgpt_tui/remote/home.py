"""A server's agents, as a local home's: the list the picker shows, and opening one by name or id."""

from __future__ import annotations

from typing import Any

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
    listed = await agents(connection)
    match = next((a for a in listed if name in (a["name"], a["id"])), None)
    if match is None:
        names = ", ".join(a["name"] for a in listed) or "none yet"
        raise ServerError(f"No agent named {name!r} on {connection.url} (its agents: {names}).", 404)
    return await RemoteAgent.open(connection, match["id"])


class Server:
    """A server as the TUI's source of agents (``model.handle.AgentSource``): each agent opened gets a
    connection of its own."""

    def __init__(self, url: str, token: str | None) -> None:
        self.where = url.rstrip("/")
        self._token = token

    async def infos(self) -> list[AgentInfo]:
        connection = await connect(self.where, self._token)
        try:
            unknown = {"backend": "?", "model": "?", "last_used": None, "messages": 0, "archival": 0}
            return [AgentInfo.model_validate(unknown | row) for row in await agents(connection)]
        finally:
            await connection.aclose()

    async def open(self, name: str) -> RemoteAgent:
        connection = await connect(self.where, self._token)
        try:
            return await open_agent(connection, name)
        except BaseException:
            await connection.aclose()
            raise
