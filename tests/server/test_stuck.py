"""An agent that cannot be opened is still listed and can be deleted, and the lock that kept requests
off it while it was deleted goes with it."""

from __future__ import annotations

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
