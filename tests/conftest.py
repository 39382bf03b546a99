from collections.abc import Iterator

import pytest

from tests import pg
from tests.fakes.openai_server import FakeOpenAIServer


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAIServer]:
    """A real OpenAI-compatible server on loopback; script it with ``openai_fake.script(Reply...)``."""
    server = FakeOpenAIServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[pg.Postgres]:
    """A real PostgreSQL 15 for the whole session (see tests/pg.py); skips where there is none."""
    if reason := pg.missing():
        pytest.skip(reason)
    with pg.running() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_session_url(postgres: pg.Postgres) -> str:
    return postgres.new_database()


@pytest.fixture
def postgres_url(postgres_session_url: str) -> Iterator[str]:
    """An empty database on that server, emptied again after the test."""
    yield postgres_session_url
    pg.empty(postgres_session_url)
