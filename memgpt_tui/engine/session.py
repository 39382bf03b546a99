"""What the units of one agent share: its state, limits, event bus, store and model."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..config import Limits
from ..llm.base import LLMBackend
from ..model import events as ev
from ..model.records import CheckpointInfo
from ..model.state import AgentState
from ..store.facade import AsyncStore

Listener = Callable[[ev.Event], None]


class Session:
    """``state`` may be replaced whole (a restore), so units read it from here each time. ``store`` and
    ``llm`` exist once the agent is open; an agent shown from its preview has neither yet."""

    store: AsyncStore
    llm: LLMBackend

    def __init__(self, state: AgentState, limits: Limits) -> None:
        self.state = state
        self.limits = limits
        self.opened = asyncio.Event()
        self._listeners: list[Listener] = []

    def attach(self, store: AsyncStore, llm: LLMBackend) -> None:
        self.store, self.llm = store, llm

    @property
    def is_open(self) -> bool:
        return self.opened.is_set()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def emit(self, event: ev.Event) -> None:
        for listener in list(self._listeners):
            listener(event)

    def checkpoint(self, label: str | None, summary: str) -> CheckpointInfo:
        """Pin the state now (a journal write: safe on the loop) and tell listeners."""
        info = self.store.checkpoint(self.state, label, summary)
        self.emit(ev.CheckpointCreated(info.id, info.step, info.label, info.summary))
        return info
