from collections.abc import Iterator

import pytest

from tests.fakes.openai_server import FakeOpenAIServer


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAIServer]:
    """A real OpenAI-compatible server on loopback; script it with ``openai_fake.script(Reply...)``."""
    server = FakeOpenAIServer().start()
    yield server
    server.stop()
