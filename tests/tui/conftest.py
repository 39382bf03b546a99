"""Fixtures for the main app: a real Agent on a real store in a temp home, driven by ScriptedLLM."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from memgpt_tui.config import Limits, Settings
from memgpt_tui.engine.agent import Agent
from memgpt_tui.model.state import AgentConfig
from memgpt_tui.store import registry
from memgpt_tui.tui.app import MemGPTApp
from memgpt_tui.tui.screens.main import MainScreen
from tests.fakes.scripted_llm import ScriptedLLM
from tests.store.helpers import HashEmbedder
from tests.tui.hosting import isolate, wait_until

MakeAgent = Callable[..., Awaitable[Agent]]


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return isolate(monkeypatch, tmp_path)


@pytest.fixture
def llm() -> ScriptedLLM:
    return ScriptedLLM()


@pytest.fixture
async def make_agent(home: Path, llm: ScriptedLLM) -> AsyncIterator[MakeAgent]:
    made: list[Agent] = []

    async def make(
        name: str = "sam", backend: str = "openai-compatible", login: bool = True, context_window: int = 4000
    ) -> Agent:
        store = registry.create_store(str(home / "agents"), name, HashEmbedder())
        llm.context_window = context_window
        config = AgentConfig(backend=backend, model="scripted", context_window=context_window, no_verify=True)  # type: ignore[arg-type]
        agent = await Agent.create(
            name,
            store,
            llm,
            Limits(),
            config,
            "You are a test agent.",
            "I am Sam.",
            "The user is Chad.",
            login,
        )
        made.append(agent)
        return agent

    yield make
    for agent in made:
        await agent.close()


def app_for(agent: Agent) -> MemGPTApp:
    return MemGPTApp(Settings(), agent=agent)


def main_of(pilot: Pilot[Any]) -> MainScreen:
    screen = pilot.app.screen
    assert isinstance(screen, MainScreen), screen
    return screen


async def ready(pilot: Pilot[Any]) -> MainScreen:
    """The main screen is up and its conversation and gauge have loaded."""
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, MainScreen))
    main = main_of(pilot)
    await wait_until(pilot, lambda: main.gauge.context is not None)
    await wait_until(pilot, lambda: len(main.conversation.children) > 1)
    return main


async def idle(pilot: Pilot[Any]) -> None:
    """The step in flight (if any) is over and its events are on screen."""
    main = main_of(pilot)
    await wait_until(pilot, lambda: not main.busy)
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()


async def type_and_send(pilot: Pilot[Any], text: str) -> None:
    from memgpt_tui.tui.widgets.chat_input import ChatInput

    chat = main_of(pilot).query_one(ChatInput)
    chat.focus()
    chat.load_text(text)
    await pilot.press("enter")


def texts(main: MainScreen, selector: str) -> list[str]:
    """The plain text of every row matching ``selector`` in the conversation."""
    return [str(getattr(w, "text", None) or w.render()) for w in main.conversation.query(selector)]
