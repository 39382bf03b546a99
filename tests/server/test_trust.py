"""What a server trusts: an uploaded Agent File's endpoints never get the operator's key, a server off
loopback never answers without a token, and a request for another host or from a foreign page is
refused."""

from __future__ import annotations

import json

from tests.fakes.openai_server import FakeOpenAIServer, Reply


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
