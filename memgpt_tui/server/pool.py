"""The agents a server has open: opened on first use, one turn at a time each, closed when idle and at
shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from .. import runtime
from ..config import Settings
from ..engine.agent import Agent
from ..model import events as ev
from ..store.accounts import AgentRecord

log = logging.getLogger(__name__)

RETRY_AFTER = 2  # seconds a client is told to wait for a turn in progress
BUSY = "The agent is answering another message; try again when that turn has finished."


class Busy(Exception):
    """The agent is in a turn; the message says so."""


@dataclass
class _Opened:
    agent: Agent
    used: float
    turn: asyncio.Task[None] | None = None
    watchers: int = 0  # open event streams: the agent is not idle while someone listens

    @property
    def turning(self) -> bool:
        return self.turn is not None and not self.turn.done()

    @property
    def busy(self) -> bool:
        return self.turning or self.watchers > 0


class Pool:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.idle_timeout = settings.serve.idle_timeout
        self._open: dict[str, _Opened] = {}
        # An agent's lock lives while someone holds or awaits it, so the pool keeps none for the agents
        # it closed: a server that has opened a million agents holds locks only for those in use.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, agent_id: str) -> asyncio.Lock:
        lock = self._locks.get(agent_id)
        if lock is None:
            lock = self._locks[agent_id] = asyncio.Lock()
        return lock

    def settings_for(self, root: str) -> Settings:
        """The settings whose agents root is ``root`` (where an owner's agents live)."""
        return self.settings.model_copy(update={"store_uri": root})

    @property
    def open_count(self) -> int:
        return len(self._open)

    def opened(self, agent_id: str) -> Agent | None:
        """The agent if it is open here, without opening it."""
        found = self._open.get(agent_id)
        return found.agent if found else None

    async def agent(self, record: AgentRecord) -> Agent:
        """The agent behind ``record``, opened if it is not (AgentLocked when another process has it)."""
        async with self._lock(record.id):
            opened = self._open.get(record.id)
            if opened is None:
                agent = await runtime.open_agent(self.settings_for(record.root), record.dir, create=False)
                opened = self._open[record.id] = _Opened(agent, time.monotonic())
            opened.used = time.monotonic()
            return opened.agent

    async def create(self, record: AgentRecord, settings: Settings, system: str | None) -> Agent:
        async with self._lock(record.id):
            agent = await runtime.create_agent(settings, record.dir, system=system)
            self._open[record.id] = _Opened(agent, time.monotonic())
            return agent

    async def idle(self, record: AgentRecord) -> Agent:
        """The agent, refused with ``Busy`` while a turn runs: every change waits for none."""
        agent = await self.agent(record)
        if self._open[record.id].turning:
            raise Busy(BUSY)
        return agent

    async def start(
        self,
        record: AgentRecord,
        work: Callable[[Agent], Coroutine[Any, Any, None]],
        listener: Callable[[ev.Event], None] | None = None,
    ) -> tuple[asyncio.Task[None], Callable[[], None]]:
        """Start a turn that runs to its end whoever waits for it (a client gone mid-stream loses
        nothing). ``listener`` hears its events from before it starts; call the returned function
        to stop listening."""
        agent = await self.idle(record)
        unsubscribe = agent.subscribe(listener) if listener else (lambda: None)
        task = asyncio.create_task(work(agent), name=f"turn-{record.id}")
        self._open[record.id].turn = task
        task.add_done_callback(_log_failure)
        return task, unsubscribe

    async def run(
        self,
        record: AgentRecord,
        work: Callable[[Agent], Coroutine[Any, Any, None]],
        listener: Callable[[ev.Event], None],
    ) -> None:
        """Run a turn to its end, ``listener`` hearing its events (a client gone meanwhile stops
        nothing); raise what it raised."""
        task, unsubscribe = await self.start(record, work, listener)
        try:
            await _outcome(task)
        finally:
            unsubscribe()

    @contextlib.asynccontextmanager
    async def watched(self, record: AgentRecord) -> AsyncIterator[Agent]:
        """The agent, kept open while the caller listens to it."""
        agent = await self.agent(record)
        opened = self._open[record.id]
        opened.watchers += 1
        try:
            yield agent
        finally:
            opened.watchers -= 1
            opened.used = time.monotonic()

    def cancel(self, record: AgentRecord) -> bool:
        """Cancel the turn in progress; False when there is none."""
        opened = self._open.get(record.id)
        if opened is None or not opened.turning:
            return False
        assert opened.turn is not None
        opened.turn.cancel()
        return True

    async def delete(self, record: AgentRecord, remove: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Close the agent if it is open (``Busy`` while a turn runs: nothing is deleted then), then
        ``remove`` it, under its lock so that no request opens it again in between. An agent that
        cannot be opened (its store missing or its model unusable here) is deleted all the same."""
        async with self._lock(record.id):
            opened = self._open.get(record.id)
            if opened is not None and opened.turning:
                raise Busy(BUSY)
            if opened is not None:
                del self._open[record.id]
                await opened.agent.close()
            await remove()

    async def reap(self) -> None:
        """Close the agents nobody used for ``idle_timeout`` seconds, every so often, until cancelled."""
        while True:
            await asyncio.sleep(max(min(self.idle_timeout / 4, 30.0), 0.05))
            cutoff = time.monotonic() - self.idle_timeout
            for key, opened in list(self._open.items()):
                if opened.used < cutoff and not opened.busy:
                    await self._close_idle(key, opened)

    async def _close_idle(self, key: str, opened: _Opened) -> None:
        lock = self._lock(key)
        if not lock.locked():  # in use: not idle after all
            async with lock:
                if self._open.get(key) is opened:
                    del self._open[key]
                    await _close_quietly(opened.agent)

    def stop_turns(self) -> None:
        """Cancel every turn in flight, keeping its message unanswered in recall (the client was told it
        arrived): the open streams then end with stop reason cancelled."""
        for opened in self._open.values():
            if opened.turning and opened.turn is not None:
                opened.agent.keep_unanswered()
                opened.turn.cancel()

    async def shutdown(self, deadline: float) -> None:
        """Let turns in flight finish for up to ``deadline`` seconds, cancel the rest, close every agent."""
        turns = [o.turn for o in self._open.values() if o.turning and o.turn is not None]
        if turns:
            log.info("waiting up to %.0f s for %d turns in flight", deadline, len(turns))
            await asyncio.wait(turns, timeout=deadline)
        self.stop_turns()
        for opened in list(self._open.values()):
            await _finish(opened, cancel=False)
            await _close_quietly(opened.agent)
        self._open.clear()


async def _outcome(task: asyncio.Task[None]) -> None:
    """Wait for a turn without cancelling it if the waiting request is; raise what it raised (a
    cancelled turn raises nothing: its events said so)."""
    await asyncio.wait([task])
    if not task.cancelled() and (error := task.exception()) is not None:
        raise error


async def _finish(opened: _Opened, *, cancel: bool) -> None:
    if opened.turning and opened.turn is not None:
        if cancel:
            opened.turn.cancel()
        with contextlib.suppress(BaseException):
            await opened.turn


async def _close_quietly(agent: Agent) -> None:
    try:
        await agent.close()
    except Exception:
        log.exception("closing agent %s", agent.name)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("turn %s failed: %r", task.get_name(), error)
