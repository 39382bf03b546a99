"""letta-client's message options, archival tags, paging recall both ways and renaming, against
``memgpt-tui serve`` (the package's shared server: no users, so the home's own agents)."""

from __future__ import annotations

import pytest
from letta_client import Letta

from tests.fakes.openai_server import Reply

from .test_letta_client import remember_name


@pytest.fixture(scope="module")
def letta(served) -> Letta:
    return Letta(base_url=served.url)


def reply(text: str) -> Reply:
    return Reply.tool_call("send_message", {"message": text}, content="Answer.")


def test_message_options_and_usage(letta, fake):
    agent = letta.agents.create(name="options")
    say = [{"role": "user", "content": "Hello"}]

    fake.script(reply("As a tool call."))
    raw = letta.agents.messages.create(agent.id, messages=say, use_assistant_message=False)
    assert [m.message_type for m in raw.messages] == [
        "reasoning_message",
        "tool_call_message",
        "tool_return_message",
    ]
    assert raw.messages[1].tool_call.name == "send_message"
    assert "As a tool call." in raw.messages[1].tool_call.arguments
    usage = raw.usage
    assert usage.step_count == 1 and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens

    fake.script(reply("Streamed as a tool call."))
    chunks = list(
        letta.agents.messages.stream(agent.id, messages=say, stream_tokens=True, use_assistant_message=False)
    )
    assert "assistant_message" not in {c.message_type for c in chunks}
    assert any(c.message_type == "tool_call_message" for c in chunks)

    fake.script(reply("Only this."))
    only = letta.agents.messages.create(
        agent.id, messages=say, include_return_message_types=["assistant_message"]
    )
    assert [(m.message_type, m.content) for m in only.messages] == [("assistant_message", "Only this.")]

    remember_name(fake)  # a core memory edit that asks for a second step
    cut = letta.agents.messages.create(agent.id, messages=say, max_steps=1)
    assert cut.stop_reason.stop_reason == "max_steps" and cut.usage.step_count == 1
    assert fake.pending == 1  # the second step was never asked for


def test_archival_tags_are_kept_and_filter_a_search(letta):
    agent = letta.agents.create(name="tagged")
    boat = letta.agents.passages.create(agent.id, text="The boat is called Petrel.", tags=["boat", "ada"])
    letta.agents.passages.create(agent.id, text="The car is called Rusty.", tags=["car"])
    assert boat[0].tags == ["boat", "ada"]
    assert {tuple(p.tags or ()) for p in letta.agents.passages.list(agent.id)} == {("boat", "ada"), ("car",)}

    def found(**filters) -> list[str]:
        return [r.content for r in letta.agents.passages.search(agent.id, query="called", **filters).results]

    assert sorted(found()) == ["The boat is called Petrel.", "The car is called Rusty."]
    assert found(tags=["car"]) == ["The car is called Rusty."]
    assert found(tags=["boat", "car"], tag_match_mode="all") == []
    assert found(tags=["boat", "ada"], tag_match_mode="all") == ["The boat is called Petrel."]


def test_messages_page_from_either_end_and_either_cursor(letta, fake):
    agent = letta.agents.create(name="pages")
    for n in range(4):
        fake.script(reply(f"Answer {n}."))
        letta.agents.messages.create(agent.id, input=f"Question {n}.")
    newest_first = list(letta.agents.messages.list(agent.id, limit=1000))
    key = [(m.id, m.message_type) for m in newest_first]
    assert len(key) > 8

    # The client follows the cursor page by page, two messages at a time, from either end.
    assert [(m.id, m.message_type) for m in letta.agents.messages.list(agent.id, limit=2)] == key
    oldest_first = letta.agents.messages.list(agent.id, order="asc", limit=2)
    assert [(m.id, m.message_type) for m in oldest_first] == key[::-1]

    ids = list(dict.fromkeys(m.id for m in reversed(newest_first)))  # messages, oldest first
    after_first = letta.agents.messages.list(agent.id, order="asc", after=ids[0], before=ids[4], limit=2)
    assert list(dict.fromkeys(m.id for m in after_first.items)) == ids[1:3]
    just_before = letta.agents.messages.list(agent.id, order="asc", before=ids[4], limit=2)
    assert list(dict.fromkeys(m.id for m in just_before.items)) == ids[2:4]
    newer_than = letta.agents.messages.list(agent.id, before=ids[0], limit=2)  # newest first
    assert list(dict.fromkeys(m.id for m in newer_than.items)) == ids[2:0:-1]


def test_renaming_a_home_agent(letta):
    agent = letta.agents.create(name="before")
    renamed = letta.agents.update(agent.id, name="after")
    assert (renamed.id, renamed.name) == (agent.id, "after")
    assert letta.agents.retrieve(agent.id).name == "after"
    listed = {a.id: a.name for a in letta.agents.list()}
    assert listed[agent.id] == "after" and "before" not in listed.values()
