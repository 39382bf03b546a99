"""What every route needs: the caller's identity, the agents it owns, the pool, and the answers that
end a request early (401, 404)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from ..config import Settings
from ..store.accounts import LOCAL_OWNER, Accounts, AgentRecord
from .pool import Pool

UNAUTHORIZED = "Missing or invalid API token: send Authorization: Bearer TOKEN."


@dataclass
class Server:
    """What the app holds for its lifetime."""

    settings: Settings
    accounts: Accounts
    pool: Pool
    loopback: bool  # listening on loopback only: while the home has no users, no token is asked
    stopping: asyncio.Event = field(default_factory=asyncio.Event)  # set on SIGTERM: event streams end
    loop: asyncio.AbstractEventLoop | None = None

    def stop_streams(self) -> None:
        """From a signal handler: end the long-lived event streams so that shutdown need not wait, and
        cancel the turns still running shortly before the deadline, while their streams are open to say
        so (at the deadline the connections are cut)."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._stop, self.loop)

    def _stop(self, loop: asyncio.AbstractEventLoop) -> None:
        self.stopping.set()
        deadline = self.settings.serve.shutdown_deadline
        loop.call_later(max(deadline - 1, deadline / 2), self.pool.stop_turns)

    async def call(self, method: str, *args: Any) -> Any:
        """An accounts call off the loop: the database may be remote."""
        return await asyncio.to_thread(getattr(self.accounts, method), *args)


async def server(request: Request) -> Server:
    # async: a sync dependency would cost each request a trip through the threadpool
    found: Server = request.app.state.server
    return found


async def owner(request: Request, app: App) -> str:
    """The caller's owner id: the token's user, else the local owner while the home has no users."""
    token = _bearer(request)
    known = app.accounts.remembered(token, None)  # on the loop: no query, no thread
    if known is not None:
        return known[0].id
    if token is None and app.loopback and app.accounts.remembered_no_users():
        return LOCAL_OWNER
    return await asyncio.to_thread(_owner, app.accounts, token, app.loopback)


async def record(agent_id: str, request: Request, app: App) -> AgentRecord:
    """The caller's agent ``agent_id``; another user's agent is as unknown as an id never made. The
    token and the agent are looked up in one trip off the loop, unless the same lookup was answered
    since the accounts database last changed."""
    token = _bearer(request)
    known = app.accounts.remembered(token, agent_id)
    if known is not None:
        found = known[1]
    elif token is None and app.loopback and (local := app.accounts.remembered_local(agent_id)):
        found = local
    else:
        found = await asyncio.to_thread(_owned_agent, app.accounts, token, agent_id, app.loopback)
    if found is None:
        raise HTTPException(404, f"No agent with id {agent_id!r}.")
    return found


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _owner(accounts: Accounts, token: str | None, loopback: bool) -> str:
    # authenticate compares tokens in constant time, and answers a missing one like a wrong one
    user = accounts.authenticate(token)
    return str(user.id) if user is not None else _local_owner(accounts, loopback)


def _owned_agent(accounts: Accounts, token: str | None, agent_id: str, loopback: bool) -> AgentRecord | None:
    user, found = accounts.token_agent(token, agent_id)
    if user is not None:
        return found
    if loopback:
        no_users, found = accounts.local_agent(agent_id)
        if no_users:
            return found
    raise HTTPException(401, UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})


def _local_owner(accounts: Accounts, loopback: bool) -> str:
    """The local owner while the home has no users and the server listens on loopback only (a server
    elsewhere whose last user was removed answers no one); without a valid token otherwise, a 401."""
    if loopback and not accounts.has_users():
        return LOCAL_OWNER
    raise HTTPException(401, UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})


def is_loopback(host: str) -> bool:
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


App = Annotated[Server, Depends(server)]
Owner = Annotated[str, Depends(owner)]
Found = Annotated[AgentRecord, Depends(record)]
