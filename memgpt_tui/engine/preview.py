"""An agent as it was when it last closed: enough to show it before its store and model are open.

Opening LanceDB and a model client takes a second or two; a preview lets a screen show the conversation,
core memory and context gauge at once while they load (``Agent.from_preview`` / ``Agent.open``). The
open store has the last word: ``head`` and the counts tell whether the preview still matches it.
"""

from __future__ import annotations

from pydantic import BaseModel

from ..model.events import ContextChanged
from ..model.messages import Message
from ..model.state import AgentState

OLDER = 100  # the newest recall messages kept, the window's among them: a screen's first page


class Preview(BaseModel):
    head: str  # the newest checkpoint's id
    state: AgentState
    buffer: list[Message]  # the in-context window
    older: list[Message]  # the rest of recall's newest OLDER messages, oldest first
    reaches_start: bool  # those newest begin with the first message ever
    recall_count: int
    archival_count: int
    context: ContextChanged | None = None

    def matches(self, head: str, recall_count: int, archival_count: int) -> bool:
        return (head, recall_count, archival_count) == (self.head, self.recall_count, self.archival_count)

    def messages_before(self, before_id: str | None, limit: int) -> list[Message] | None:
        """What ``recent_messages(before_id, limit)`` returns, when the preview holds it (None when not)."""
        # Window messages older than the newest OLDER sort first (a question kept through evictions).
        newest = sorted([*self.older, *self.buffer], key=lambda m: m.id)[-OLDER:]
        if before_id is not None and all(m.id != before_id for m in newest):
            return None
        window = [m for m in newest if before_id is None or m.id < before_id]
        if len(window) < limit and not self.reaches_start:
            return None
        return window[-limit:] if limit > 0 else []
