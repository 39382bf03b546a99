"""Awkward agents: one that cannot be opened is still listed and can be deleted; a home on one of
MemGPT's local backends serves its models and agents; a name in any script exports."""

from __future__ import annotations

from urllib.parse import unquote

from memgpt_tui.store.accounts import Accounts

from .harness import in_process
from .test_users_apart import add_users


def test_an_agent_whose_store_is_missing_is_listed_and_deleted(tmp_path, fake, monkeypatch):
    home = tmp_path / "home"
    token = add_users(home, "alice")["alice"]
    with Accounts(None, home, str(home / "agents")) as accounts:  # a kill -9 before its store was made
        ghost = accounts.add_agent(accounts.user("alice").id, "ghost")
    auth = {"Authorization": f"Bearer {token}"}
    with in_process(home, fake, monkeypatch) as client:
        listed = client.get("/v1/agents/", headers=auth)
        assert listed.status_code == 200, listed.text
        assert [(a["id"], a["name"]) for a in listed.json()] == [(ghost.id, "ghost")]
        assert client.delete(f"/v1/agents/{ghost.id}", headers=auth).status_code == 200
        assert client.get("/v1/agents/", headers=auth).json() == []
        assert client.app.state.server.pool._locks == {}


def test_a_home_on_a_memgpt_local_backend_lists_models_and_makes_agents(tmp_path, fake, monkeypatch):
    env = {"MEMGPT_TUI_BACKEND": "ollama", "MEMGPT_TUI_MODEL": "dolphin"}
    with in_process(tmp_path / "home", fake, monkeypatch, **env) as client:
        models = client.get("/v1/models/")
        assert models.status_code == 200, models.text
        assert models.json()[0]["handle"] == "ollama/dolphin"
        assert models.json()[0]["model_endpoint_type"] == "ollama"
        made = client.post("/v1/agents/", json={"name": "local"})
        assert made.status_code == 200, made.text
        assert made.json()["llm_config"]["model_endpoint_type"] == "ollama"
        assert [a["name"] for a in client.get("/v1/agents/").json()] == ["local"]


def test_an_agent_named_in_any_script_or_with_quotes_exports(tmp_path, fake, monkeypatch):
    home = tmp_path / "home"
    auth = {"Authorization": f"Bearer {add_users(home, 'alice')['alice']}"}
    with in_process(home, fake, monkeypatch) as client:
        made = client.post("/v1/agents/", json={"name": '日記 "one"'}, headers=auth)
        assert made.status_code == 200, made.text
        exported = client.get(f"/v1/x-memgpt/agents/{made.json()['id']}/export?format=md", headers=auth)
        assert exported.status_code == 200, exported.text
        disposition = exported.headers["content-disposition"]
        assert 'filename="__ _one_.md"' in disposition
        assert unquote(disposition.split("filename*=UTF-8''")[1]) == '日記 "one".md'
