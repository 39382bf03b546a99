"""What the engine needs from storage.

Methods are blocking. Writes (append/replace/delete messages, checkpoint) and the in-memory reads
(counts, the checkpoint list) only touch a journal file and memory, so the engine calls them directly on
its event loop; everything that reads or embeds goes through ``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from ..engine.messages import Message
from ..engine.state import AgentState


class StoreError(Exception):
    """A storage failure the user must see (corrupt, foreign, locked, mismatched). The text says why and what to do."""


class AgentLocked(StoreError):
    pass


class EmbeddingMismatch(StoreError):
    pass


class NotFound(StoreError):
    """No checkpoint or passage with that id."""


class Passage(BaseModel):
    id: str
    text: str
    created_at: datetime
    metadata: dict[str, Any] = {}
    score: float | None = None


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of results. ``page`` is 0-based; ``pages`` is the number of pages (0 when ``total`` is 0);
    a page past the end has no items."""

    items: list[T]
    total: int
    page: int
    pages: int


class CheckpointInfo(BaseModel):
    id: str
    step: int
    time: datetime
    label: str | None  # set by /save NAME, "restored ..." for restores
    summary: str  # what changed, one line
    messages: int  # recall size at that point
    archival: int
    in_context: int


class Embedder(Protocol):
    @property
    def model(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


class AgentStore(Protocol):
    name: str

    def close(self) -> None: ...
    def write_preview(self, data: bytes) -> None: ...  # see store/preview.py; opening removes it

    # agent state: the head is the newest checkpoint
    def head(self) -> AgentState | None: ...

    # recall
    def append_messages(self, messages: Sequence[Message]) -> None: ...
    def get_messages(self, ids: Sequence[str]) -> list[Message]: ...
    def delete_messages(self, ids: Sequence[str]) -> None: ...
    def replace_messages(self, messages: Sequence[Message]) -> None: ...  # same ids, new content
    def count_messages(self) -> int: ...
    def search_messages(self, query: str, page: int, page_size: int) -> Page[Message]: ...
    def search_messages_by_date(self, start: date, end: date, page: int, page_size: int) -> Page[Message]: ...
    def pending_user_messages(self) -> list[Message]: ...  # persisted after the head checkpoint
    def recent_messages(self, before_id: str | None, limit: int) -> list[Message]: ...

    # archival
    def archival_insert(self, texts: Sequence[str], metadata: dict[str, Any] | None = None) -> list[str]: ...
    def archival_search(self, query: str, page: int, page_size: int) -> Page[Passage]: ...
    def archival_count(self) -> int: ...
    def archival_update(self, passage_id: str, text: str) -> None: ...
    def archival_delete(self, passage_id: str) -> None: ...
    def archival_list(self, page: int, page_size: int) -> Page[Passage]: ...

    # checkpoints
    def checkpoint(self, state: AgentState, label: str | None, summary: str) -> CheckpointInfo: ...
    def checkpoints(self) -> list[CheckpointInfo]: ...
    def checkpoint_state(self, checkpoint_id: str) -> AgentState: ...
    def restore(self, checkpoint_id: str) -> tuple[AgentState, CheckpointInfo]: ...
