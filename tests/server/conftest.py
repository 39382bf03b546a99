"""One ``memgpt-tui serve`` and one fake model server for the tests that can share them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.openai_server import FakeOpenAIServer

from .harness import Served, start


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


@pytest.fixture(autouse=True)
def _fresh_script(fake: FakeOpenAIServer) -> Iterator[None]:
    yield
    fake.unscript()
