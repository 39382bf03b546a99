"""Snapshot of the main screen at 120x40 with a deterministic conversation (no clocks, no blinking)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from memgpt_tui.config import Limits, Settings
from memgpt_tui.engine.agent import Agent
from memgpt_tui.model.state import AgentConfig
from memgpt_tui.store import registry
from memgpt_tui.tui.app import MemGPTApp
from memgpt_tui.tui.widgets.core_memory import BlockView
from tests.fakes.scripted_llm import ScriptedLLM, call, say
from tests.store.helpers import HashEmbedder
from tests.tui.conftest import idle, ready, type_and_send
from tests.tui.hosting import SIZE, still


async def scripted_agent(home: Path) -> Agent:
    llm = ScriptedLLM(
        [
            call(
                "core_memory_append",
                "He told me his name.",
                label="human",
                content="Name: Chad.",
                heartbeat=True,
            ),
            say("Nice to meet you, **Chad**! What shall we talk about?", thought="Greet him by name."),
            call("archival_memory_insert", "Memory is filling up: keep his name.", content="Chad said hi."),
        ]
    )
    store = registry.create_store(str(home / "agents"), "sam", HashEmbedder())
    config = AgentConfig(backend="openai-compatible", model="scripted", context_window=600, no_verify=True)
    persona = "I am Sam, a curious and warm companion."
    return await Agent.create(
        "sam", store, llm, Limits(), config, "You are a test agent.", persona, "The user."
    )


def test_main_screen(snap_compare: Any, home: Path) -> None:
    agent = asyncio.run(scripted_agent(home))

    async def run_before(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        await type_and_send(pilot, "Hi, I'm Chad.")
        await idle(pilot)
        for view in pilot.app.screen.query(BlockView):
            view.remove_class("-flash")  # the highlight ends on a timer; the snapshot wants it settled
        still(pilot)

    try:
        assert snap_compare(
            MemGPTApp(Settings.load(), agent=agent), terminal_size=SIZE, run_before=run_before
        )
    finally:
        asyncio.run(agent.close())
