"""Snapshots of the main screen at the sizes its layout changes at, with a deterministic conversation (no
clocks, no blinking): a core memory edit and a memory-pressure warning; and of help."""

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
from memgpt_tui.tui.screens.help import HelpScreen
from memgpt_tui.tui.screens.main import MainScreen
from memgpt_tui.tui.widgets.core_memory import BlockView
from tests.fakes.scripted_llm import ScriptedLLM, call, say
from tests.store.helpers import HashEmbedder
from tests.tui.conftest import idle, ready, type_and_send
from tests.tui.hosting import SNAPSHOT_SIZES, HostApp, still, wait_until

WARNING_WINDOW = 620  # tokens: the first exchange crosses the 75% warning line


async def scripted_agent(home: Path, backend: str = "openai-compatible") -> Agent:
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
    config = AgentConfig(backend=backend, model="scripted", context_window=WARNING_WINDOW, no_verify=True)  # type: ignore[arg-type]
    persona = "I am Sam, a curious and warm companion."
    return await Agent.create(
        "sam", store, llm, Limits(), config, "You are a test agent.", persona, "The user."
    )


async def chatted(pilot: Pilot[Any]) -> None:
    """One exchange: the agent edits its core memory, then is warned of memory pressure."""
    main = await ready(pilot)
    await type_and_send(pilot, "Hi, I'm Chad.")
    await idle(pilot)
    assert main.gauge.context is not None and main.gauge.context.over_warning
    for view in pilot.app.screen.query(BlockView):
        view.remove_class("-flash")  # the highlight ends on a timer; the snapshot wants it settled
    still(pilot)


def snapshot_main(snap_compare: Any, home: Path, size: tuple[int, int], backend: str) -> None:
    agent = asyncio.run(scripted_agent(home, backend))
    try:
        assert snap_compare(MemGPTApp(Settings.load(), agent=agent), terminal_size=size, run_before=chatted)
    finally:
        asyncio.run(agent.close())


@SNAPSHOT_SIZES
def test_main_screen(snap_compare: Any, home: Path, size: tuple[int, int]) -> None:
    snapshot_main(snap_compare, home, size, "openai-compatible")


@SNAPSHOT_SIZES
def test_main_screen_with_the_bundled_models_note(
    snap_compare: Any, home: Path, size: tuple[int, int]
) -> None:
    """The note is folded to one line in a short terminal (F3 unfolds it)."""
    snapshot_main(snap_compare, home, size, "embedded")


@SNAPSHOT_SIZES
def test_help(snap_compare: Any, size: tuple[int, int]) -> None:
    async def prepare(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))

    assert snap_compare(
        HostApp(lambda: HelpScreen((MainScreen, MemGPTApp))), terminal_size=size, run_before=prepare
    )
