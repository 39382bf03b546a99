"""The real letta-client 1.12.1 against ``memgpt-tui serve``: what a MemGPT-style program does."""

from __future__ import annotations

import pytest
from letta_client import Letta, NotFoundError, UnprocessableEntityError

from memgpt_tui import wire
from tests.fakes.openai_server import Reply


@pytest.fixture(scope="module")
def letta(served) -> Letta:
    return Letta(base_url=served.url)


def remember_name(fake) -> None:
    fake.script(
        Reply.tool_call(
            "core_memory_replace",
            {"label": "human", "old_content": "unknown", "new_content": "Ada", "request_heartbeat": True},
            content="The user told me their name.",
        ),
        Reply.tool_call("send_message", {"message": "Nice to meet you, Ada!"}, content="Greet Ada."),
    )


def test_health_and_models(letta):
    health = letta.health()
    assert health.status == "ok" and health.version.startswith("memgpt-tui")
    handles = [m.handle for m in letta.models.list()]
    assert handles[0] == "openai-compatible/fake-model"
    assert [m.handle for m in letta.models.embeddings.list()] == ["openai-compatible/fake-embed"]


def test_a_memgpt_program_end_to_end(letta, fake):
    agent = letta.agents.create(
        name="sam",
        memory_blocks=[
            {"label": "human", "value": "Name: unknown"},
            {"label": "project", "value": "A boat", "limit": 500, "description": "what we build"},
        ],
        description="a sailing helper",
        tags=["demo"],
    )
    assert agent.id.startswith("agent-") and agent.name == "sam"
    assert {b.label for b in agent.blocks} == {"persona", "human", "project"}
    assert agent.description == "a sailing helper" and agent.tags == ["demo"]

    remember_name(fake)
    reply = letta.agents.messages.create(agent.id, messages=[{"role": "user", "content": "I'm Ada."}])
    kinds = [m.message_type for m in reply.messages]
    assert kinds == [
        "reasoning_message",
        "tool_call_message",
        "tool_return_message",
        "reasoning_message",
        "assistant_message",
    ]
    assert reply.messages[1].tool_call.name == "core_memory_replace"
    assert reply.messages[-1].content == "Nice to meet you, Ada!"
    assert reply.stop_reason.stop_reason == "end_turn" and reply.usage.step_count == 2

    # The agent's edit is in its core memory; the user edits a block too.
    assert letta.agents.blocks.retrieve("human", agent_id=agent.id).value == "Name: Ada"
    letta.agents.blocks.update("project", agent_id=agent.id, value="A blue boat")
    blocks = {b.label: b for b in letta.agents.blocks.list(agent.id)}
    assert blocks["project"].value == "A blue boat" and blocks["project"].limit == 500
    assert blocks["project"].description == "what we build"
    letta.agents.blocks.update("project", agent_id=agent.id, description="the boat we build")
    assert letta.agents.blocks.retrieve("project", agent_id=agent.id).description == "the boat we build"

    # A stream with token chunks, then the stop reason and usage.
    fake.script(Reply.tool_call("send_message", {"message": "Streaming works."}, content="Say so."))
    chunks = list(
        letta.agents.messages.stream(
            agent.id, messages=[{"role": "user", "content": "Stream?"}], stream_tokens=True
        )
    )
    said = "".join(c.content for c in chunks if c.message_type == "assistant_message")
    thought = "".join(c.reasoning for c in chunks if c.message_type == "reasoning_message")
    assert said == "Streaming works." and thought == "Say so."
    assert [c.message_type for c in chunks[-2:]] == ["stop_reason", "usage_statistics"]

    # The JSON path streams too when asked.
    fake.script(Reply.tool_call("send_message", {"message": "Streamed whole."}, content="Whole."))
    events = letta.agents.messages.create(agent.id, input="And whole messages?", streaming=True)
    kinds = [e.message_type for e in events]
    assert kinds == ["reasoning_message", "assistant_message", "stop_reason", "usage_statistics"]

    # Messages page by page (the client follows the ``after`` cursor), newest first.
    listed = list(letta.agents.messages.list(agent.id, limit=2))
    assert len({m.id for m in listed}) > 4
    assert listed[0].message_type == "assistant_message" and listed[0].content == "Streamed whole."
    assert any(m.message_type == "user_message" and m.content == "I'm Ada." for m in listed)
    oldest_first = list(letta.agents.messages.list(agent.id, order="asc", limit=3))
    assert [m.id for m in oldest_first] == [m.id for m in reversed(listed)]

    # Summarize: the older half of the window goes into the summary.
    fake.script(Reply.text("Ada introduced herself and asked about streaming."))
    compacted = letta.agents.messages.compact(agent.id)
    assert compacted.num_messages_after < compacted.num_messages_before
    assert compacted.summary == "Ada introduced herself and asked about streaming."

    # Archival memory.
    inserted = letta.agents.passages.create(agent.id, text="Ada's boat is called Petrel.")
    assert inserted[0].text == "Ada's boat is called Petrel."
    found = letta.agents.passages.search(agent.id, query="Ada's boat is called Petrel.")
    assert found.count >= 1 and found.results[0].content == "Ada's boat is called Petrel."
    assert [p.id for p in letta.agents.passages.list(agent.id)] == [inserted[0].id]

    # Export as an Agent File, import it under a new name: a new agent with the same memory.
    exported = letta.agents.export_file(agent.id)
    imported = letta.agents.import_file(
        file=("sam.af", exported.encode(), "application/json"), override_name="sam2"
    )
    copy = letta.agents.retrieve(imported.agent_ids[0])
    assert copy.name == "sam2" and copy.id != agent.id
    assert {b.label: b.value for b in copy.blocks}["human"] == "Name: Ada"

    names = {a.name for a in letta.agents.list(limit=1)}  # one per page: the cursor must move on
    assert {"sam", "sam2"} <= names

    letta.agents.delete(copy.id)
    with pytest.raises(NotFoundError):
        letta.agents.retrieve(copy.id)
    assert "sam2" not in {a.name for a in letta.agents.list()}


def test_a_block_update_says_in_a_header_whether_it_changed_the_block(letta):
    agent = letta.agents.create(name="saver", memory_blocks=[{"label": "human", "value": "Bo"}])
    blocks = letta.agents.blocks.with_raw_response
    changed = blocks.update("human", agent_id=agent.id, value="Bo, who sails")
    assert changed.headers[wire.CHANGED_HEADER] == "true"
    assert changed.parse().value == "Bo, who sails"  # the client still reads its Block
    same = blocks.update("human", agent_id=agent.id, value="Bo, who sails")
    assert same.headers[wire.CHANGED_HEADER] == "false" and same.parse().value == "Bo, who sails"


def test_what_this_server_does_not_do_is_a_422_naming_the_field(letta):
    with pytest.raises(UnprocessableEntityError, match="tools"):
        letta.agents.create(name="tooly", tools=["web_search"])
    with pytest.raises(UnprocessableEntityError, match="agent_type"):
        letta.agents.create(name="react", agent_type="react_agent")
    assert "tooly" not in {a.name for a in letta.agents.list()}
