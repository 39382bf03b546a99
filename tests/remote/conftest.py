"""One ``memgpt-tui serve`` on the OpenAI-compatible fake (the server tests' fixtures), and a new agent
on it per test."""

from __future__ import annotations

import pytest

from tests.server.conftest import _fresh_script, fake, served  # noqa: F401  (fixtures, shared)
from tests.server.harness import Served


@pytest.fixture
def agent_name(served: Served, request: pytest.FixtureRequest) -> str:  # noqa: F811  (the fixture)
    """A new agent on the server, named after the test."""
    name = request.node.name.removeprefix("test_")[:40]
    with served.http() as http:
        answer = http.post(
            "/v1/agents/", json={"name": name, "memory_blocks": [{"label": "human", "value": "Bo"}]}
        )
        assert answer.status_code == 200, answer.text
    return name
