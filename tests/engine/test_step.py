"""The step loop: replies, heartbeats, failure heartbeats, chain limit, verification, errors, cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import json

from memgpt_tui.engine.agent import Agent
from memgpt_tui.llm.base import LLMResponse, LLMToolCall
from memgpt_tui.model import events as ev
from memgpt_tui.model.errors import BackendUnavailable
from tests.fakes.scripted_llm import call, raw, say


def last_user_content(request: list[dict]) -> dict:
    return json.loads(request[-1]["content"])


async def test_new_agent_starts_with_boot_sequence_and_login(make_agent):
    agent, _ = await make_agent()
    kinds = [m.kind for m in agent.buffer]
    assert kinds == ["assistant", "tool_result", "login"]
    assert agent.buffer[0].tool_calls[0].name == "send_message"
    assert json.loads(agent.buffer[2].content)["type"] == "login"
    checkpoints = await agent.checkpoints()
    assert [c.label for c in checkpoints] == ["created"]


async def test_send_message_reply_events_and_persistence(make_agent, llm):
    agent, rec = await make_agent()
    seen_in_recall = []

    def reply(messages):
        # The user's message must already be in recall when the model is called.
        seen_in_recall.append(agent.store.count_messages())
        return say("Hello Chad!", thought="Greet him.")

    llm.queue(reply)
    await agent.send("hi there")
    assert seen_in_recall == [4]
    assert [e.text for e in rec.of(ev.AssistantMessage)] == ["Hello Chad!"]
    assert [e.text for e in rec.of(ev.InnerThought)] == ["Greet him."]
    assert rec.of(ev.FunctionReturned)[0].ok
    assert rec.of(ev.StepFinished)[-1].next_reason is None
    assert [m.kind for m in agent.buffer[-3:]] == ["user_message", "assistant", "tool_result"]
    assert agent.store.count_messages() == 6
    # The request carried the system prompt, memory header and core memory, then the buffer.
    system = llm.requests[0][0]["content"]
    assert system.startswith("You are a test agent.")
    assert "previous messages between you and the user are stored in recall memory" in system
    assert '<persona characters="9/2000">\nI am Sam.\n</persona>' in system
    assert last_user_content(llm.requests[0])["message"] == "hi there"
    assert rec.of(ev.ContextChanged)[-1].recall_messages == 6
    assert rec.of(ev.CheckpointCreated)[-1].step == 1


async def test_streamed_thought_tokens_are_emitted(make_agent, llm):
    agent, rec = await make_agent()
    llm.queue(say("ok", thought="one two three"))
    await agent.send("hi")
    assert "".join(t.text for t in rec.of(ev.Token)).split() == ["one", "two", "three"]


async def test_requested_heartbeat_runs_another_step(make_agent, llm):
    agent, rec = await make_agent()
    llm.queue(call("archival_memory_insert", content="Chad likes sailing", heartbeat=True), say("Noted!"))
    await agent.send("I like sailing")
    steps = rec.of(ev.StepStarted)
    assert [s.reason for s in steps] == ["user", "heartbeat"]
    heartbeat = last_user_content(llm.requests[1])
    assert heartbeat["type"] == "heartbeat" and "request_heartbeat=true" in heartbeat["reason"]
    assert agent.archival_count == 1


async def test_failure_heartbeats_never_crash(make_agent, llm):
    agent, rec = await make_agent()
    bad = [
        raw("no_such_function", "{}"),
        raw("send_message", '{"message": "trunc'),
        raw("conversation_search", '{"query": "x", "page": "not a number"}'),
        raw("core_memory_append", '{"label": "human"}'),
        raw("send_message", "[1, 2]"),
        LLMResponse(content=None, parse_error="Expecting value: line 1", raw="I think maybe {"),
    ]
    for reply in bad:
        llm.queue(reply, say("recovered"))
        rec.clear()
        await agent.send("go")
        reasons = [s.reason for s in rec.of(ev.StepStarted)]
        assert reasons == ["user", "failure"], reply
        failure = last_user_content(llm.requests[-1])
        assert failure["type"] == "heartbeat" and "Function call failed" in failure["reason"]
        assert [e.text for e in rec.of(ev.AssistantMessage)] == ["recovered"]
    results = [m for m in agent.buffer if m.kind == "tool_result" and '"Failed"' in (m.content or "")]
    assert any("No function named 'no_such_function'" in m.content for m in results)
    assert any("Invalid arguments for conversation_search" in m.content for m in results)
    assert any(
        "Invalid arguments for core_memory_append" in m.content and "content" in m.content for m in results
    )


async def test_chain_limit_stops_runaway_heartbeats(make_agent, llm, limits):
    agent, rec = await make_agent()
    llm.queue(
        *[call("archival_memory_search", query="x", heartbeat=True) for _ in range(limits.chain_limit + 2)]
    )
    await agent.send("search forever")
    assert len(rec.of(ev.StepStarted)) == limits.chain_limit
    assert any("chain limit" in n.text for n in rec.of(ev.Notice))
    assert len(llm.replies) == 2


async def test_first_message_verification_retries(make_agent, llm):
    agent, rec = await make_agent(no_verify=False)
    llm.queue(
        call("archival_memory_insert", content="x"),  # not a reply or a search
        say("hi", thought=""),  # empty inner monologue
        say("Hello!", thought="Greet."),
    )
    await agent.send("hi")
    discarded = rec.of(ev.AttemptDiscarded)
    assert [(d.problem, d.attempt) for d in discarded] == [
        ("no send_message or search call", 1),
        ("empty inner monologue", 2),
    ]
    assert len(rec.of(ev.StepStarted)) == 1  # one step, asked three times
    assert [e.text for e in rec.of(ev.AssistantMessage)] == ["Hello!"]
    assert agent.state.verified
    assert agent.archival_count == 0  # rejected attempts ran nothing


async def test_search_passes_first_message_verification(make_agent, llm):
    agent, rec = await make_agent(no_verify=False)
    llm.queue(call("conversation_search", thought="Look it up.", query="sailing"))
    await agent.send("remember?")
    assert not rec.of(ev.AttemptDiscarded)


async def test_no_verify_accepts_any_first_reply(make_agent, llm):
    agent, rec = await make_agent(no_verify=True)
    llm.queue(call("archival_memory_insert", content="x"))
    await agent.send("hi")
    assert not rec.of(ev.AttemptDiscarded)
    assert agent.archival_count == 1


async def test_a_model_shown_only_the_last_exchange_is_not_verified(make_agent, llm):
    """The notes wrapper saves a fact first; its model never sees that reply again, so asking again
    would only repeat it."""
    agent, rec = await make_agent(no_verify=False)
    llm.layout.partial = True
    llm.queue(call("core_memory_append", thought="A fact.", label="human", content="I sail."))
    await agent.send("I sail.")
    assert not rec.of(ev.AttemptDiscarded) and agent.state.verified
    assert "I sail." in agent.state.block("human").value


async def test_backend_error_keeps_user_message_for_retry(make_agent, llm):
    agent, rec = await make_agent()
    llm.queue(BackendUnavailable("Nothing answers at http://127.0.0.1:9", hint="Start the server."))
    await agent.send("are you there?")
    error = rec.of(ev.Error)[0]
    assert "Nothing answers" in error.text and error.hint == "Start the server."
    assert agent.unanswered() == "are you there?"
    assert agent.store.count_messages() == 4  # persisted, not in view
    assert agent.buffer[-1].kind == "login"
    llm.queue(say("Yes!"))
    await agent.retry()
    assert agent.unanswered() is None
    assert [m.kind for m in agent.buffer[-3:]] == ["user_message", "assistant", "tool_result"]
    assert agent.buffer[-3].user_text() == "are you there?"
    assert agent.store.count_messages() == 6


async def test_cancel_during_model_call_leaves_nothing(make_agent, llm):
    agent, rec = await make_agent()
    llm.block = asyncio.Event()
    llm.queue(say("too late"))
    before = list(agent.buffer)
    task = asyncio.create_task(agent.send("never mind"))
    while not llm.requests:
        await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert agent.buffer == before
    assert agent.store.count_messages() == 3
    assert agent.unanswered() is None
    assert [c.label for c in await agent.checkpoints()] == ["created"]
    llm.block = None
    await agent.send("hello again")
    assert rec.of(ev.AssistantMessage)[-1].text == "too late"


async def test_resume_from_store(make_agent, llm, open_store, limits):
    agent, _ = await make_agent(name="resumable")
    llm.queue(call("core_memory_append", label="human", content="Likes sailing."), say("Nice."))
    llm.queue(say("Nice."))
    await agent.send("I like sailing")
    buffer_ids = [m.id for m in agent.buffer]
    await asyncio.to_thread(agent.store.close)
    store = open_store("resumable")
    again = await Agent.load(store, llm, limits)
    assert [m.id for m in again.buffer] == buffer_ids
    assert again.memory()["human"].endswith("Likes sailing.")
    assert again.state.step == agent.state.step


async def test_multiple_tool_calls_in_one_reply(make_agent, llm):
    agent, rec = await make_agent()
    reply = LLMResponse(
        content="Two things.",
        tool_calls=[
            LLMToolCall("a", "archival_memory_insert", json.dumps({"content": "fact"})),
            LLMToolCall("b", "send_message", json.dumps({"message": "done"})),
        ],
    )
    llm.queue(reply)
    await agent.send("do both")
    assert [m.tool_call_id for m in agent.buffer if m.role == "tool"][-2:] == ["a", "b"]
    assert rec.of(ev.AssistantMessage)[0].text == "done"


async def test_agent_is_usable_from_a_fresh_event_loop(open_store, llm, limits):
    from memgpt_tui.model.state import AgentConfig

    agent = await Agent.create(
        "loop", open_store("loop"), llm, limits, AgentConfig(no_verify=True), "sys", "p", "h"
    )
    assert isinstance(agent, Agent)
    await agent.close()


async def test_memory_header_is_stable_between_memory_edits(make_agent, llm):
    """The system message only changes when memory does, so a server's prompt-prefix cache stays valid."""
    agent, _ = await make_agent()
    llm.queue(say("one"), say("two"))
    await agent.send("first")
    await agent.send("second")
    assert llm.requests[0][0]["content"] == llm.requests[1][0]["content"]
    llm.queue(call("core_memory_append", label="human", content="Likes kites."), say("three"))
    await agent.send("third")
    llm.queue(say("four"))
    await agent.send("fourth")
    system = llm.requests[-1][0]["content"]
    assert system != llm.requests[1][0]["content"] and "Likes kites." in system
    assert f"{agent.recall_count - 3} previous messages" in system  # counts refreshed with the edit
