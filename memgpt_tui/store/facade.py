"""The engine's view of a store, with the threading contract in the types.

``AgentStore`` methods are blocking. The ones that only touch the journal and memory (writes, counts,
the checkpoint list) take microseconds and are plain methods here, called on the event loop. The ones
that read Lance or embed are coroutines here and run in a worker thread, so the engine cannot block its
loop on them by mistake.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, TypeVar

from ..model.messages import Message
from ..model.records import CheckpointInfo, Page, Passage
from ..model.state import AgentState
from .api import AgentStore

T = TypeVar("T")


class AsyncStore:
    def __init__(self, store: AgentStore) -> None:
        self.blocking = store
        self.name = store.name

    # ------------------------------------------- journal and memory: on the loop

    def append_messages(self, messages: Sequence[Message]) -> None:
        self.blocking.append_messages(messages)

    def delete_messages(self, ids: Sequence[str]) -> None:
        self.blocking.delete_messages(ids)

    def replace_messages(self, messages: Sequence[Message]) -> None:
        self.blocking.replace_messages(messages)

    def count_messages(self) -> int:
        return self.blocking.count_messages()

    def archival_count(self) -> int:
        return self.blocking.archival_count()

    def checkpoint(self, state: AgentState, label: str | None, summary: str) -> CheckpointInfo:
        return self.blocking.checkpoint(state, label, summary)

    def checkpoints(self) -> list[CheckpointInfo]:
        return self.blocking.checkpoints()

    # ------------------------------------------ Lance reads and embeddings: in a thread

    async def head(self) -> AgentState | None:
        return await asyncio.to_thread(self.blocking.head)

    async def get_messages(self, ids: Sequence[str]) -> list[Message]:
        return await asyncio.to_thread(self.blocking.get_messages, ids)

    async def recent_messages(self, before_id: str | None, limit: int) -> list[Message]:
        return await asyncio.to_thread(self.blocking.recent_messages, before_id, limit)

    async def messages_after(self, after_id: str | None, limit: int) -> list[Message]:
        return await asyncio.to_thread(self.blocking.messages_after, after_id, limit)

    async def pending_user_messages(self) -> list[Message]:
        return await asyncio.to_thread(self.blocking.pending_user_messages)

    async def search_messages(self, query: str, page: int, page_size: int) -> Page[Message]:
        return await asyncio.to_thread(self.blocking.search_messages, query, page, page_size)

    async def search_messages_by_date(
        self, start: date, end: date, page: int, page_size: int
    ) -> Page[Message]:
        return await asyncio.to_thread(self.blocking.search_messages_by_date, start, end, page, page_size)

    async def archival_insert(
        self, texts: Sequence[str], metadata: dict[str, Any] | None = None
    ) -> list[str]:
        return await asyncio.to_thread(self.blocking.archival_insert, texts, metadata)

    async def archival_search(self, query: str, page: int, page_size: int) -> Page[Passage]:
        return await asyncio.to_thread(self.blocking.archival_search, query, page, page_size)

    async def archival_list(self, page: int, page_size: int) -> Page[Passage]:
        return await asyncio.to_thread(self.blocking.archival_list, page, page_size)

    async def archival_update(self, passage_id: str, text: str) -> None:
        await asyncio.to_thread(self.blocking.archival_update, passage_id, text)

    async def archival_delete(self, passage_id: str) -> None:
        await asyncio.to_thread(self.blocking.archival_delete, passage_id)

    async def checkpoint_state(self, checkpoint_id: str) -> AgentState:
        return await asyncio.to_thread(self.blocking.checkpoint_state, checkpoint_id)

    async def restore(self, checkpoint_id: str) -> tuple[AgentState, CheckpointInfo]:
        return await asyncio.to_thread(self.blocking.restore, checkpoint_id)

    async def run(self, fn: Callable[[], T]) -> T:
        """Several blocking calls in one trip to a thread (closing, writing the preview)."""
        return await asyncio.to_thread(fn)
