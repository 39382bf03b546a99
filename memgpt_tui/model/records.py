"""What the store hands back: passages, pages of results and checkpoint listings."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel


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


def is_restore(info: CheckpointInfo) -> bool:
    """The store labels the head a restore creates "restored <label or step N>"."""
    return (info.label or "").startswith("restored ")


def undo_target(infos: list[CheckpointInfo]) -> CheckpointInfo | None:
    """The head just before the latest restore (``infos`` newest first): restoring it undoes that restore."""
    latest = next((i for i, info in enumerate(infos) if is_restore(info)), None)
    if latest is None or latest + 1 >= len(infos):
        return None
    return infos[latest + 1]
