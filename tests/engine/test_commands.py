"""Slash commands as engine operations: recall and checkpoints stay consistent with what the agent sees."""

from __future__ import annotations

import json

import pytest

from memgpt_tui import commands
from memgpt_tui.model import events as ev
from tests.fakes.scripted_llm import call, say


async def chat(agent, llm, *pairs):
    for text, reply in pairs:
        llm.queue(say(reply))
        await agent.send(text)


async def test_pop_removes_from_view_and_recall(make_agent, llm):
    agent, rec = await make_agent()
    await chat(agent, llm, ("first", "one"), ("second", "two"))
    total = agent.store.count_messages()
    result = await commands.run(agent, "/pop")
    assert result.text == "Removed 3 messages."
    assert agent.store.count_messages() == total - 3
    assert agent.buffer[-1].kind == "tool_result"
    assert agent.store.search_messages("second", 0, 5).total == 0
    assert rec.of(ev.HistoryChanged)
    # /pop 1 must not leave half a tool call: it takes the call with its result.
    result = await commands.run(agent, "/pop 1")
    assert result.text == "Removed 2 messages."
    assert agent.buffer[-1].kind == "user_message"
    checkpoints = await agent.checkpoints()
    assert "/pop" in checkpoints[-1].summary


async def test_retry_replaces_the_last_reply(make_agent, llm):
    agent, rec = await make_agent()
    await chat(agent, llm, ("question", "wrongful"))
    llm.queue(say("splendid"))
    await commands.run(agent, "/retry")
    replies = [json.loads(c.arguments)["message"] for m in agent.buffer for c in m.tool_calls]
    assert replies[-1] == "splendid" and "wrongful" not in replies
    assert agent.store.search_messages("wrongful", 0, 5).total == 0
    assert agent.store.search_messages("question", 0, 5).total == 1
    assert [m.kind for m in agent.buffer[-3:]] == ["user_message", "assistant", "tool_result"]


async def test_rethink_and_rewrite(make_agent, llm):
    agent, _ = await make_agent()
    await chat(agent, llm, ("hi", "hello"))
    await commands.run(agent, "/rethink I should be more cheerful.")
    await commands.run(agent, "/rewrite Hello there, friend!")
    last = [m for m in agent.buffer if m.role == "assistant"][-1]
    assert last.content == "I should be more cheerful."
    assert json.loads(last.tool_calls[0].arguments)["message"] == "Hello there, friend!"
    stored = agent.store.get_messages([last.id])[0]
    assert stored.content == "I should be more cheerful."
    assert agent.store.search_messages("friend", 0, 5).total == 1


async def test_heartbeat_and_memorywarning_commands(make_agent, llm):
    agent, rec = await make_agent()
    llm.queue(say("I'm awake"), say("saving"))
    await commands.run(agent, "/heartbeat")
    await commands.run(agent, "/memorywarning")
    assert [s.reason for s in rec.of(ev.StepStarted)] == ["heartbeat", "warning"]
    assert json.loads(llm.requests[0][-1]["content"])["type"] == "heartbeat"
    assert json.loads(llm.requests[1][-1]["content"])["type"] == "system_alert"


async def test_dump_memory_tokens_help(make_agent, llm):
    agent, _ = await make_agent()
    await chat(agent, llm, ("tell me", "told"))
    await agent.refresh_context()
    dump = (await commands.run(agent, "/dump 3")).text
    assert "tell me" in dump and dump.count("\n") >= 2
    memory = (await commands.run(agent, "/memory")).text
    assert "[persona] 9/2000 chars" in memory and "Recall memory: 6 messages" in memory
    tokens = (await commands.run(agent, "/tokens")).text
    for category in ("system", "tools", "core_memory", "summary", "messages", "total"):
        assert category in tokens
    help_text = (await commands.run(agent, "/help")).text
    assert all(c.name in help_text for c in commands.COMMANDS)
    assert (await commands.run(agent, "/exit")).exit


async def test_command_errors_are_messages(make_agent):
    agent, _ = await make_agent()
    with pytest.raises(commands.CommandError, match="Unknown command /frobnicate"):
        await commands.run(agent, "/frobnicate")
    with pytest.raises(commands.CommandError, match="Usage: /rethink <text>"):
        await commands.run(agent, "/rethink")
    with pytest.raises(commands.CommandError, match="Expected a number"):
        await commands.run(agent, "/pop many")
    with pytest.raises(commands.CommandError, match="No assistant message"):
        await agent.pop(10)
        await commands.run(agent, "/rewrite hi")


async def test_save_load_restore_and_undo(make_agent, llm):
    agent, rec = await make_agent()
    await chat(agent, llm, ("before", "ok"))
    saved = await agent.save("good state")
    llm.queue(call("core_memory_append", label="human", content="Hates tea."), say("noted"))
    llm.queue(say("noted"))
    await agent.send("I hate tea")
    await agent.insert_archival("tea is bad")
    assert "Hates tea." in agent.memory()["human"]
    mentions = agent.store.search_messages("hate tea", 0, 5).total
    head_before_restore = (await agent.checkpoints())[-1]
    listing = await commands.run(agent, "/load")
    assert listing.opens == "checkpoints" and "good state" in listing.text
    await commands.run(agent, f"/load {saved.id}")
    assert "Hates tea." not in agent.memory()["human"]
    assert agent.store.search_messages("hate tea", 0, 5).total == 0
    assert agent.archival_count == 0
    assert any(e.by == "restore" for e in rec.of(ev.CoreMemoryChanged))
    # The restore is itself a checkpoint, and the state before it can be restored (undo).
    await agent.restore(head_before_restore.id)
    assert "Hates tea." in agent.memory()["human"]
    assert agent.store.search_messages("hate tea", 0, 5).total == mentions
    assert agent.archival_count == 1


async def test_update_block_by_user(make_agent):
    agent, rec = await make_agent()
    await agent.update_block("human", "Name: Chad. Sails.")
    assert agent.memory()["human"] == "Name: Chad. Sails."
    assert rec.of(ev.CoreMemoryChanged)[-1].by == "user"
    with pytest.raises(Exception, match="limit is 2000"):
        await agent.update_block("human", "x" * 2001)
    await agent.add_block("project", "Writing a thesis.")
    assert agent.memory()["project"] == "Writing a thesis."
    assert "<project" in (await agent.window.assemble()).messages[0]["content"]


async def test_saving_a_block_as_it_is_changes_nothing(make_agent):
    agent, rec = await make_agent()
    checkpoints, edited = len(await agent.checkpoints()), agent.state.memory_edited_at
    assert not await agent.update_block("human", agent.memory()["human"])
    assert not await agent.update_block(
        "persona", agent.memory()["persona"], agent.state.block("persona").limit
    )
    assert not rec.of(ev.CoreMemoryChanged) and not rec.of(ev.CheckpointCreated)
    assert len(await agent.checkpoints()) == checkpoints
    assert agent.state.memory_edited_at == edited
    assert await agent.update_block("human", agent.memory()["human"], limit=3000)  # a new limit is a change
    assert len(await agent.checkpoints()) == checkpoints + 1
    assert agent.state.block("human").limit == 3000


async def test_export_writes_the_open_conversation(make_agent, llm, tmp_path, monkeypatch):
    agent, _ = await make_agent()
    llm.queue(
        call("core_memory_append", "Worth keeping.", heartbeat=True, label="human", content="Likes tea")
    )
    llm.queue(say("Tea it is."))
    await agent.send("I like tea.")
    monkeypatch.chdir(tmp_path)

    result = await commands.run(agent, "/export")  # Markdown, named after the agent, here
    written = next(tmp_path.glob(f"{agent.name}-*.md"))
    assert result.text == f"Exported the conversation to {written.name}"
    text = written.read_text()
    assert "I like tea." in text and "Tea it is." in text
    assert "<details><summary>Function call: core_memory_append</summary>" in text and "Likes tea" in text

    await commands.run(agent, f"/export {tmp_path / 'tea.af'}")
    exported = json.loads((tmp_path / "tea.af").read_text())
    assert any("Likes tea" in b["value"] for b in exported["blocks"])

    with pytest.raises(commands.CommandError, match="Cannot write"):
        await commands.run(agent, f"/export {tmp_path / 'no' / 'such' / 'dir.md'}")
