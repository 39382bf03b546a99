"""A read-only picture of an agent, for UIs: they read this and events, never the engine's live state."""

from __future__ import annotations

from dataclasses import dataclass

from .messages import Message
from .state import AgentConfig, Block


@dataclass(frozen=True, slots=True)
class AgentView:
    name: str
    config: AgentConfig
    blocks: tuple[Block, ...]
    summary: str | None
    step: int
    in_context: tuple[Message, ...]  # the context window's messages, oldest first
    recall_messages: int
    archival_memories: int

    def memory(self) -> dict[str, str]:
        return {b.label: b.value for b in self.blocks}
