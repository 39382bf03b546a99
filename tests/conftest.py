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
def postgres_url(postgres: pg.Postgres) -> str:
    """A database on that server, shared by the session."""
    return postgres.new_database()
