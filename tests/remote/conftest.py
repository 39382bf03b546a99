"""One ``memgpt-tui serve`` on the OpenAI-compatible fake, with one agent, for the attached tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.server.harness import Served, start


@pytest.fixture(scope="package")
def fake() -> Iterator[FakeOpenAIServer]:
    server = FakeOpenAIServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def served(tmp_path_factory: pytest.TempPathFactory, fake: FakeOpenAIServer) -> Iterator[Served]:
    server = start(tmp_path_factory.mktemp("home"), fake)
    yield server
    server.stop()


@pytest.fixture
def agent_name(served: Served, request: pytest.FixtureRequest) -> str:
    """A new agent on the server, named after the test."""
    name = request.node.name.removeprefix("test_")[:40]
    with served.http() as http:
        answer = http.post(
            "/v1/agents/", json={"name": name, "memory_blocks": [{"label": "human", "value": "Bo"}]}
        )
        assert answer.status_code == 200, answer.text
    return name


@pytest.fixture(autouse=True)
def _fresh_script(fake: FakeOpenAIServer) -> Iterator[None]:
    yield
    fake.unscript()
