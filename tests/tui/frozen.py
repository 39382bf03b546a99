"""A stand-in agent with fixed data and fixed times, for snapshots (a real store stamps wall-clock times)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from memgpt_tui.config import Limits
from memgpt_tui.model.messages import Message, ToolCall
from memgpt_tui.model.records import CheckpointInfo, Page, Passage
from memgpt_tui.model.state import AgentConfig, AgentState, Block
from memgpt_tui.model.view import AgentView

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def utc() -> Iterator[None]:
    """Render local times as UTC whatever the machine's zone."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def _state(step: int, human: str, summary: str | None = None) -> AgentState:
    blocks = [
        Block(label="persona", value="I am Sam.\nI like long walks."),
        Block(label="human", value=human),
    ]
    return AgentState(
        name="sam", config=AgentConfig(), system_prompt="sys", blocks=blocks, step=step, summary=summary
    )


class FrozenStore:
    def __init__(self, states: dict[str, AgentState], passages: list[Passage]) -> None:
        self.states = states
        self.passages = passages

    def checkpoint_state(self, checkpoint_id: str) -> AgentState:
        return self.states[checkpoint_id]

    def archival_list(self, page: int, page_size: int) -> Page[Passage]:
        items = self.passages[page * page_size : (page + 1) * page_size]
        return Page(
            items=items, total=len(self.passages), page=page, pages=-(-len(self.passages) // page_size)
        )


class FrozenAgent:
    name = "sam"
    limits = Limits()
    unavailable: dict[str, str] = {}  # a local agent's: it offers everything

    def __init__(self) -> None:
        humans = [
            "The user is Chad.",
            "The user is Chad.\nChad likes tea.",
            "The user is Chad.\nChad likes green tea.",
        ]
        self.infos = [
            CheckpointInfo(
                id=f"cp{i}",
                step=i,
                time=T0 + timedelta(minutes=i),
                label=label,
                summary=summary,
                messages=3 + 3 * i,
                archival=i // 2,
                in_context=3 + 3 * i,
            )
            for i, (label, summary) in enumerate(
                [
                    ("created", "agent created"),
                    (None, "send_message"),
                    (None, "core_memory_append, send_message"),
                    ("before trip", "saved by the user"),
                    (None, "core_memory_replace"),
                ]
            )
        ]
        states = {
            "cp0": _state(0, humans[0]),
            "cp1": _state(1, humans[0]),
            "cp2": _state(2, humans[1]),
            "cp3": _state(3, humans[1]),
            "cp4": _state(4, humans[2], "Chad and Sam talked about tea."),
        }
        self._state = states["cp4"]
        passages = [
            Passage(id=f"p{i}", text=text, created_at=T0 + timedelta(hours=i), metadata=meta)
            for i, (text, meta) in enumerate(
                [
                    ("Chad's favourite tea is sencha; he drinks it without sugar.", {"source": "chat"}),
                    ("Chad is planning a trip to Kyoto in the autumn.", {}),
                    (
                        "Notes from the MemGPT paper: memory tiers are core, recall and archival.",
                        {"source": "paper.md"},
                    ),
                ]
            )
        ]
        self.store = FrozenStore(states, passages)
        self.messages = [
            Message(
                id="m1",
                role="user",
                kind="user_message",
                content='{"type": "user_message", "message": "Do you remember my tea?"}',
                created_at=T0,
                step=1,
            ),
            Message(
                id="m2",
                role="assistant",
                kind="assistant",
                content="He asked about tea; recall says sencha.",
                tool_calls=(
                    ToolCall(id="c1", name="send_message", arguments='{"message": "Sencha, no sugar!"}'),
                ),
                created_at=T0 + timedelta(seconds=5),
                step=1,
            ),
        ]

    def snapshot(self) -> AgentView:
        state = self._state
        return AgentView(
            name=state.name,
            config=state.config,
            blocks=tuple(state.blocks),
            summary=state.summary,
            step=state.step,
            in_context=(self.messages[0],) * 15,
            recall_messages=15,
            archival_memories=2,
        )

    async def checkpoint_state(self, checkpoint_id: str) -> AgentState:
        return self.store.checkpoint_state(checkpoint_id)

    async def list_archival(self, page: int = 0) -> Page[Passage]:
        return self.store.archival_list(page, self.limits.page_size)

    async def checkpoints(self) -> list[CheckpointInfo]:
        return list(self.infos)

    async def search_recall(self, query: str, page: int = 0) -> Page[Message]:
        return Page(items=self.messages, total=7, page=page, pages=2)

    async def search_archival(self, query: str, page: int = 0) -> Page[Passage]:
        items = [p for p in self.store.passages if query.lower() in p.text.lower()]
        return Page(items=items, total=len(items), page=0, pages=1)
