"""Our own paths under /v1/x-memgpt/: the event stream, history edits, recall search, checkpoints (diff,
restore, undo), our export and the picker's counts; and the one-writer rule between server and TUI."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime

import httpx
import pytest

from memgpt_tui import runtime
from memgpt_tui.config import Settings, shipped_dir
from memgpt_tui.model.errors import AgentLocked
from memgpt_tui.store import registry
from tests.fakes.openai_server import Reply

from .harness import server_env

OWN = "/v1/x-memgpt/agents"


@pytest.fixture(scope="module")
def agent_id(served) -> str:
    with served.http() as http:
        answer = http.post(
            "/v1/agents/", json={"name": "own", "memory_blocks": [{"label": "human", "value": "Bo"}]}
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["id"]


def listen(served, agent_id: str, seen: list[dict], ready: threading.Event, until: str) -> None:
    """Read the agent's event stream until a record of type ``until`` arrives."""
    with (
        httpx.Client(base_url=served.url, timeout=30) as http,
        http.stream("GET", f"{OWN}/{agent_id}/events") as s,
    ):
        for line in s.iter_lines():
            ready.set()
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
                if seen[-1]["message_type"] == until:
                    return


def test_the_event_stream_and_history_edits(served, fake, agent_id):
    seen: list[dict] = []
    ready = threading.Event()
    reader = threading.Thread(target=listen, args=(served, agent_id, seen, ready, "x_step_finished"))
    reader.start()
    assert ready.wait(10)
    fake.script(
        Reply.tool_call(
            "core_memory_append",
            {"label": "human", "content": "Likes tea.", "request_heartbeat": False},
            content="Note it.",
        )
    )
    with served.http() as http:
        turn = http.post(f"{OWN}/{agent_id}/messages", json={"text": "I like tea."}).json()
        reader.join(timeout=30)
        kinds = [r["message_type"] for r in seen]
        for kind in (
            "x_step_started",
            "x_token",
            "reasoning_message",
            "tool_call_message",
            "x_core_memory_changed",
        ):
            assert kind in kinds, kind
        change = next(r for r in seen if r["message_type"] == "x_core_memory_changed")
        assert change["label"] == "human" and change["new"].endswith("Likes tea.") and change["by"] == "agent"
        assert "x_checkpoint_created" in [r["message_type"] for r in turn["records"]]

        # /rethink and /rewrite change the last reply; /retry answers again; /pop takes messages away.
        fake.script(Reply.tool_call("send_message", {"message": "Tea it is."}, content="Reply."))
        http.post(f"{OWN}/{agent_id}/messages", json={"text": "Noted?"})
        assert http.post(f"{OWN}/{agent_id}/rethink", json={"text": "Be warm."}).status_code == 200
        assert http.post(f"{OWN}/{agent_id}/rewrite", json={"text": "Tea, noted!"}).status_code == 200
        shown = http.get(f"{OWN}/{agent_id}").json()
        assert [r for r in shown["in_context"] if r["message_type"] == "assistant_message"][-1][
            "content"
        ] == "Tea, noted!"
        fake.script(Reply.tool_call("send_message", {"message": "Again: tea."}, content="Retry."))
        retried = http.post(f"{OWN}/{agent_id}/retry", json={}).json()
        assert [r["content"] for r in retried["records"] if r["message_type"] == "assistant_message"] == [
            "Again: tea."
        ]
        before = http.get(f"{OWN}/{agent_id}").json()["recall_messages"]
        assert http.post(f"{OWN}/{agent_id}/pop", json={"count": 2}).json()["removed"] >= 2
        assert http.get(f"{OWN}/{agent_id}").json()["recall_messages"] < before
        refused = http.post(f"{OWN}/{agent_id}/pop", json={"count": 0})
        assert refused.status_code == 422


def test_recall_checkpoints_export_and_picker(served, fake, agent_id):
    with served.http() as http:  # a message of its own: another worker may have run the tests before
        fake.script(Reply.tool_call("send_message", {"message": "Green or black?"}, content="Reply."))
        assert http.post(f"{OWN}/{agent_id}/messages", json={"text": "Some tea, please."}).status_code == 200
        by_text = http.get(f"{OWN}/{agent_id}/recall", params={"query": "tea"}).json()
        assert any("tea" in (r.get("content") or "").lower() for r in by_text["records"])
        today = datetime.now(UTC).date().isoformat()
        by_date = http.get(f"{OWN}/{agent_id}/recall", params={"start": today, "end": today}).json()
        assert by_date["total"] > 0
        assert http.get(f"{OWN}/{agent_id}/recall").status_code == 422

        # Change a block, look at the diff to the checkpoint before, restore it, then undo the restore.
        checkpoints = http.get(f"{OWN}/{agent_id}/checkpoints").json()
        http.patch(f"/v1/agents/{agent_id}/core-memory/blocks/human", json={"value": "Bo, changed"})
        diff = http.get(f"{OWN}/{agent_id}/checkpoints/{checkpoints[0]['id']}").json()["diff"]
        assert "-Bo, changed" in diff["human"]
        restored = http.post(f"{OWN}/{agent_id}/checkpoints/{checkpoints[0]['id']}/restore", json={}).json()
        assert restored["label"].startswith("restored")
        human = http.get(f"/v1/agents/{agent_id}/core-memory/blocks/human").json()["value"]
        assert human != "Bo, changed"
        http.post(f"{OWN}/{agent_id}/checkpoints/undo", json={})
        assert http.get(f"/v1/agents/{agent_id}/core-memory/blocks/human").json()["value"] == "Bo, changed"
        missing = http.get(f"{OWN}/{agent_id}/checkpoints/nope")
        assert missing.status_code == 404

        exported = http.get(f"{OWN}/{agent_id}/export")
        assert exported.status_code == 200 and exported.content[:2] == b"PK"  # our format: a zip
        markdown = http.get(f"{OWN}/{agent_id}/export", params={"format": "md"})
        assert markdown.text.startswith("# Conversation with own")

        row = next(r for r in http.get(OWN).json() if r["id"] == agent_id)
        assert row["name"] == "own" and row["messages"] > 0 and row["backend"] == "openai-compatible"


def test_an_agent_created_with_the_blocks_it_would_have_anyway_has_one_checkpoint(served):
    """The create sets the blocks it is given; a block given the text it already holds is no edit."""
    defaults = Settings.model_fields
    blocks = [
        {
            "label": kind,
            "value": (shipped_dir(f"{kind}s") / f"{defaults[kind].default}.txt").read_text().strip(),
        }
        for kind in ("persona", "human")
    ]
    with served.http() as http:
        created = http.post("/v1/agents/", json={"name": "as-shipped", "memory_blocks": blocks}).json()
        listed = http.get(f"{OWN}/{created['id']}/checkpoints").json()
    assert [(c["step"], c["label"]) for c in listed] == [(0, "created")]


def test_one_writer_between_the_server_and_a_tui(served, fake, agent_id, monkeypatch):
    """An agent open in the server is refused to a TUI on the same home, and the other way round."""
    with pytest.raises(AgentLocked, match="is open in another memgpt-tui"):  # as the TUI opens a store
        registry.open_store(str(served.home / "agents"), "own", None)

    for name, value in server_env(served.home, fake).items():
        if name.startswith("MEMGPT_TUI_"):
            monkeypatch.setenv(name, value)

    async def held_by_a_tui() -> tuple[int, str]:
        agent = await runtime.create_agent(Settings.load(), "held")
        try:
            with served.http() as http:
                rows = {r["name"]: r["id"] for r in http.get(OWN).json()}
                answer = await asyncio.to_thread(
                    http.post, f"/v1/agents/{rows['held']}/messages", json={"input": "hi"}
                )
                listed = await asyncio.to_thread(http.get, "/v1/agents/")
            held = next(a for a in listed.json() if a["name"] == "held")
            assert held["blocks"] == []  # listed by name and id alone while the TUI has it
            return answer.status_code, answer.json()["detail"]
        finally:
            await agent.close()

    status, detail = asyncio.run(held_by_a_tui())
    assert status == 409 and "is open in another memgpt-tui" in detail
    # Closed by the TUI: listed in full from the preview it left, without the server opening it.
    with served.http() as http:
        held = next(a for a in http.get("/v1/agents/").json() if a["name"] == "held")
        assert {b["label"] for b in held["blocks"]} == {"persona", "human"}
        assert next(r for r in http.get(OWN).json() if r["name"] == "held")["open"] is False
