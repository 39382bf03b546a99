"""Two users with tokens on one server: neither sees nor touches the other's agents on any path, even
under the same agent name; a bad or missing token is one and the same 401. Then one letta-client pass
with the users in PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from letta_client import AuthenticationError, Letta, NotFoundError

from memgpt_tui.store.accounts import Accounts
from tests.fakes.openai_server import Reply
from tests.waiting import eventually

from .harness import answered_without_a_query, in_process, start


def add_users(home: Path, *names: str, db: str | None = None) -> dict[str, str]:
    """Users in the home's accounts database (as ``memgpt-tui users add`` makes them): name -> token."""
    with Accounts(db, home, str(home / "agents")) as accounts:
        return {name: accounts.add_user(name)[1] for name in names}


@pytest.fixture(scope="module")
def two(tmp_path_factory, fake):
    home = tmp_path_factory.mktemp("home")
    home.chmod(0o700)
    tokens = add_users(home, "alice", "bob")
    served = start(home, fake)
    yield served, tokens
    served.stop()


# Every path that names an agent: (method, path under the agent, JSON body or None).
AGENT_PATHS = [
    ("GET", "", None),
    ("PATCH", "", {"description": "mine now"}),
    ("DELETE", "", None),
    ("GET", "/export", None),
    ("POST", "/messages", {"messages": [{"role": "user", "content": "hi"}]}),
    ("POST", "/messages/stream", {"messages": [{"role": "user", "content": "hi"}]}),
    ("GET", "/messages", None),
    ("POST", "/messages/cancel", {}),
    ("POST", "/summarize", {}),
    ("GET", "/core-memory/blocks", None),
    ("GET", "/core-memory/blocks/human", None),
    ("PATCH", "/core-memory/blocks/human", {"value": "stolen"}),
    ("GET", "/archival-memory", None),
    ("POST", "/archival-memory", {"text": "planted"}),
    ("GET", "/archival-memory/search?query=x", None),
    ("DELETE", "/archival-memory/some-id", None),
]
OWN_PATHS = [
    ("GET", "", None),
    ("GET", "/events", None),
    ("POST", "/messages", {"text": "hi"}),
    ("POST", "/retry", {}),
    ("POST", "/cancel", {}),
    ("POST", "/pop", {"count": 1}),
    ("POST", "/rethink", {"text": "x"}),
    ("POST", "/rewrite", {"text": "x"}),
    ("GET", "/recall?query=hi", None),
    ("GET", "/checkpoints", None),
    ("POST", "/checkpoints", {"label": "x"}),
    ("GET", "/checkpoints/some-id", None),
    ("POST", "/checkpoints/some-id/restore", {}),
    ("POST", "/checkpoints/undo", {}),
    ("GET", "/export", None),
    # what an attached TUI reads
    ("GET", "/view", None),
    ("GET", "/history", None),
    ("GET", "/history/after?after=x", None),
    ("GET", "/recall/stored?query=hi", None),
    ("GET", "/archival", None),
    ("PATCH", "/archival/some-id", {"text": "x"}),
    ("GET", "/checkpoints/some-id/state", None),
    ("POST", "/heartbeat", {}),
    ("POST", "/memory-warning", {}),
]


def test_users_never_see_each_others_agents(two, fake):
    served, tokens = two
    alice = Letta(base_url=served.url, api_key=tokens["alice"])
    bob = Letta(base_url=served.url, api_key=tokens["bob"])
    hers = alice.agents.create(name="sam", memory_blocks=[{"label": "human", "value": "Alice's secret"}])
    his = bob.agents.create(name="sam")  # the same name: names are per user
    assert hers.id != his.id
    assert [a.id for a in alice.agents.list()] == [hers.id]
    assert [a.id for a in bob.agents.list()] == [his.id]
    with pytest.raises(NotFoundError):
        bob.agents.retrieve(hers.id)

    fake.default = Reply.tool_call("send_message", {"message": "ok"}, content="thinking")
    try:
        with served.http(tokens["bob"]) as http:
            for prefix, paths in (("/v1/agents/", AGENT_PATHS), ("/v1/x-memgpt/agents/", OWN_PATHS)):
                for method, tail, body in paths:
                    theirs = http.request(method, f"{prefix}{hers.id}{tail}", json=body)
                    unknown = http.request(method, f"{prefix}agent-nobody{tail}", json=body)
                    assert theirs.status_code == 404, (method, prefix, tail, theirs.text)
                    assert theirs.json() == {"detail": f"No agent with id {hers.id!r}."}
                    assert unknown.json() == {"detail": "No agent with id 'agent-nobody'."}
            picker = http.get("/v1/x-memgpt/agents").json()
            assert [row["id"] for row in picker] == [his.id]
    finally:
        fake.default = None
    # Nothing Bob tried changed Alice's agent.
    assert alice.agents.blocks.retrieve("human", agent_id=hers.id).value == "Alice's secret"
    assert alice.agents.retrieve(hers.id).description is None
    assert alice.agents.passages.list(hers.id) == []


@pytest.mark.parametrize("token", [None, "sk-memgpt-0000000000000000wrong", "not even a token"])
def test_a_bad_token_is_one_401(two, token):
    served, _ = two
    with served.http() as http:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        answer = http.get("/v1/agents/", headers=headers)
        assert answer.status_code == 401
        assert answer.json() == {"detail": "Missing or invalid API token: send Authorization: Bearer TOKEN."}
    with pytest.raises(AuthenticationError):
        Letta(base_url=served.url, api_key=token or "x").agents.list()
    assert token is None or token not in served.log()


def test_a_letta_client_pass_with_users_in_postgresql(tmp_path, fake, postgres_url):
    home = tmp_path / "home"
    token = add_users(home, "carol", db=postgres_url)["carol"]
    served = start(home, fake, "--db", postgres_url)
    try:
        carol = Letta(base_url=served.url, api_key=token)
        agent = carol.agents.create(name="sam", memory_blocks=[{"label": "human", "value": "Carol"}])
        fake.script(Reply.tool_call("send_message", {"message": "Hello Carol."}, content="Greet."))
        reply = carol.agents.messages.create(agent.id, messages=[{"role": "user", "content": "Hi"}])
        assert reply.messages[-1].content == "Hello Carol."
        assert next(iter(carol.agents.messages.list(agent.id, limit=1))).content == "Hello Carol."
        carol.agents.delete(agent.id)
        assert list(carol.agents.list()) == []
    finally:
        served.stop()


def test_a_rotated_or_removed_token_stops_at_once_on_two_servers_of_one_database(two, fake):
    first, _ = two
    token = add_users(first.home, "carol")["carol"]
    servers = [first, start(first.home, fake)]
    try:

        def statuses(key: str) -> list[int]:
            return [s.http(key).get("/v1/agents/").status_code for s in servers]

        assert statuses(token) == statuses(token) == [200, 200]  # the second time, remembered
        with Accounts(None, first.home, str(first.home / "agents")) as accounts:
            rotated = accounts.new_token("carol")
            assert statuses(token) == [401, 401]
            assert statuses(rotated) == [200, 200]
            accounts.remove_user("carol")
            assert statuses(rotated) == [401, 401]
    finally:
        servers[1].stop()


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_a_checked_token_needs_no_query_until_another_server_rotates_it(
    tmp_path, fake, monkeypatch, request, db
):
    home = tmp_path / "home"
    url = request.getfixturevalue("postgres_url") if db == "postgresql" else None
    token = add_users(home, "alice", db=url)["alice"]
    with in_process(home, fake, monkeypatch, **({"MEMGPT_TUI_DB": url} if url else {})) as client:
        eventually(lambda: answered_without_a_query(client, "/v1/models/", token), "no query for the token")
        with Accounts(url, home, str(home / "agents")) as other:  # another server's users command
            rotated = other.new_token("alice")
        stale = {"Authorization": f"Bearer {token}"}
        eventually(lambda: client.get("/v1/models/", headers=stale).status_code == 401, "the change is seen")
        eventually(
            lambda: answered_without_a_query(client, "/v1/models/", rotated), "no query for the new one"
        )
