"""What a server trusts: an uploaded Agent File's endpoints never get the operator's key, a server off
loopback never answers without a token, one on loopback stops answering without a token once a user
exists, and a request for another host or from a foreign page is refused."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from memgpt_tui.store.accounts import Accounts
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.waiting import eventually

from .harness import answered_without_a_query, in_process
from .test_users_apart import add_users


def test_an_imported_agent_uses_the_servers_model_not_the_files_endpoint(served, fake):
    with FakeOpenAIServer() as elsewhere, served.http() as http:
        made = http.post("/v1/agents/", json={"name": "template"}).json()["id"]
        exported = json.loads(http.get(f"/v1/agents/{made}/export").content)
        for agent in exported["agents"]:
            agent["llm_config"].update(model_endpoint_type="openai", model_endpoint=elsewhere.base_url)
            agent["embedding_config"].update(
                embedding_endpoint_type="openai", embedding_endpoint=elsewhere.base_url
            )
        upload = {"file": ("t.af", json.dumps(exported).encode(), "application/json")}
        imported = http.post("/v1/agents/import", files=upload, data={"override_name": "visitor"})
        assert imported.status_code == 200, imported.text
        agent_id = imported.json()["agent_ids"][0]
        assert http.get(f"/v1/agents/{agent_id}").json()["llm_config"]["model_endpoint"] == fake.base_url
        fake.script(Reply.tool_call("send_message", {"message": "Hello from home."}, content="t"))
        answer = http.post(f"/v1/agents/{agent_id}/messages", json={"input": "hi"})
        assert answer.status_code == 200 and answer.json()["messages"][-1]["content"] == "Hello from home."
        assert elsewhere.requests == []

        # Our own export keeps its endpoints: one of this server's comes back in; one naming others does not.
        ours = http.get(f"/v1/x-memgpt/agents/{made}/export").content
        back = http.post("/v1/agents/import", files={"file": ("t.zip", ours)}, data={"override_name": "back"})
        assert back.status_code == 200, back.text
        stranger = {"file": ("t.zip", elsewhere_embedding(ours, elsewhere.base_url))}
        refused = http.post("/v1/agents/import", files=stranger, data={"override_name": "stranger"})
        assert refused.status_code == 400 and "Letta Agent File" in refused.json()["detail"]
        assert http.get("/v1/agents/", params={"name": "stranger"}).json() == []


def elsewhere_embedding(export: bytes, url: str) -> bytes:
    """Our export, its agent's embeddings on ``url``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(export)) as source, zipfile.ZipFile(out, "w") as copy:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "agent.json":
                header = json.loads(data)
                header["agent"]["embedding"]["endpoint"] = url
                data = json.dumps(header).encode()
            copy.writestr(item, data)
    return out.getvalue()


def test_a_server_off_loopback_whose_last_user_is_removed_answers_no_one(tmp_path, fake, monkeypatch):
    home = tmp_path / "home"
    token = add_users(home, "alice")["alice"]
    with in_process(home, fake, monkeypatch, MEMGPT_TUI_SERVE__HOST="0.0.0.0") as client:
        assert client.get("/v1/agents/", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        with Accounts(None, home, str(home / "agents")) as accounts:
            accounts.remove_user("alice")
        assert client.get("/v1/agents/").status_code == 401
        assert client.post("/v1/agents/", json={"name": "planted"}).status_code == 401


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_without_users_a_loopback_request_needs_no_query_until_a_user_is_added(
    tmp_path, fake, monkeypatch, request, db
):
    home = tmp_path / "home"
    url = request.getfixturevalue("postgres_url") if db == "postgresql" else None
    with in_process(home, fake, monkeypatch, **({"MEMGPT_TUI_DB": url} if url else {})) as client:
        eventually(lambda: answered_without_a_query(client, "/v1/models/"), "no query for the local owner")
        add_users(home, "alice", db=url)  # as `memgpt-tui users add` does while the server runs
        eventually(lambda: client.get("/v1/models/").status_code == 401, "the user is seen")
        assert client.get("/v1/models/").status_code == 401


def test_a_request_for_another_host_or_from_another_sites_page_is_refused(tmp_path, fake, monkeypatch):
    with in_process(tmp_path / "home", fake, monkeypatch) as client:
        assert client.get("/v1/agents/").status_code == 200
        rebound = client.get("/v1/agents/", headers={"Host": "evil.example"})
        assert rebound.status_code == 400 and "evil.example" in rebound.json()["detail"]
        upload = {"file": ("t.af", b"{}", "application/json")}
        posted = client.post("/v1/agents/import", files=upload, headers={"Origin": "http://evil.example"})
        assert posted.status_code == 403 and "cors-origin" in posted.json()["detail"]
        own_page = client.post("/v1/agents/import", files=upload, headers={"Origin": "http://127.0.0.1:8283"})
        assert own_page.status_code == 422, own_page.text  # past the check: the file is the problem
