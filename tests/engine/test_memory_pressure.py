"""Memory-pressure warning, proactive eviction with the recursive summary, and overflow recovery."""

from __future__ import annotations

import json

import pytest

from memgpt_tui.engine.agent import Agent
from memgpt_tui.engine.summarizer import render_for_summary, summarize, to_evict
from memgpt_tui.model import events as ev
from memgpt_tui.model.errors import AgentError, ContextOverflowError
from memgpt_tui.model.messages import Message, user_message
from tests.fakes.scripted_llm import QUESTION, ScriptedLLM, answer_after_searches, call, say

WORDS = " ".join(["word"] * 60)


def assert_units_whole(buffer: list[Message]) -> None:
    """Every tool result in view follows the assistant call that produced it."""
    calls = {c.id for m in buffer for c in m.tool_calls}
    for m in buffer:
        if m.role == "tool":
            assert m.tool_call_id in calls
    assert buffer[0].role != "tool"


async def test_memory_warning_sent_once(make_agent, llm):
    agent, rec = await make_agent(context_window=900)
    base = (await agent.refresh_context()).used
    # Fill until a step's prompt passes 75% of the window.
    while (agent.last_context.used) < 900 * 0.75:
        llm.queue(say(WORDS))
        await agent.send(WORDS)
    rec.clear()
    llm.queue(say("ok"), say("saved"))
    await agent.send("one more")
    assert base < 900 * 0.75
    reasons = [s.reason for s in rec.of(ev.StepStarted)]
    assert reasons[:2] == ["user", "warning"]
    warning = json.loads(llm.requests[-1][-1]["content"])
    assert warning["type"] == "system_alert" and "memory" in warning["message"].lower()
    rec.clear()
    llm.queue(say("again"))
    await agent.send("and another")
    assert "warning" not in [s.reason for s in rec.of(ev.StepStarted)]


async def test_a_model_shown_part_of_the_context_gets_no_warning_step(make_agent, llm):
    """The notes wrapper shows its model no alerts: a warning step would only repeat the last reply.
    The user is still told, and a requested heartbeat still follows."""
    agent, rec = await make_agent(context_window=900)
    llm.layout.partial = True
    agent.window.builder.layout = llm.layout
    while agent.last_context.used < 900 * 0.75:
        llm.queue(say(WORDS))
        await agent.send(WORDS)
    rec.clear()
    asked = len(llm.requests)
    llm.queue(call("archival_memory_insert", heartbeat=True, content="more"), say("saved"))
    await agent.send("one more")
    assert [s.reason for s in rec.of(ev.StepStarted)] == ["user", "heartbeat"]
    assert [n.text for n in rec.of(ev.Notice)] == [
        "Memory pressure: the context window is filling up; this model does not see warnings."
    ]
    alerts = [m for request in llm.requests[asked:] for m in request if "system_alert" in str(m["content"])]
    assert not [m for m in alerts if "memory" in m["content"].lower()]
    assert agent.state.warned  # told once, until an eviction


async def test_a_warning_asked_for_a_model_shown_part_of_the_context_is_refused(make_agent, llm):
    agent, rec = await make_agent()
    llm.layout.partial = True
    agent.window.builder.layout = llm.layout
    asked, step = len(llm.requests), agent.state.step
    with pytest.raises(AgentError, match="sees no warnings"):
        await agent.memory_warning()
    assert (len(llm.requests), agent.state.step, rec.of(ev.StepStarted)) == (asked, step, [])


async def test_eviction_summarises_and_keeps_recall(make_agent, llm):
    agent, rec = await make_agent(context_window=1500)
    llm.summary = "Chad talked about words a lot."
    sent = 0
    while not rec.of(ev.Summarized):
        llm.queue(say(WORDS))
        await agent.send(f"message {sent} {WORDS}")
        sent += 1
        assert sent < 40
    summarized = rec.of(ev.Summarized)[0]
    assert summarized.evicted > 0
    assert agent.state.summary == "Chad talked about words a lot."
    assert_units_whole(agent.buffer)
    # Under half the window after eviction (plus the step that followed).
    assert agent.last_context.used <= 1500
    # Evicted messages stay searchable in recall.
    assert agent.store.count_messages() > len(agent.buffer)
    assert agent.store.search_messages("message 0", 0, 5).total >= 1
    # The next request carries the summary as a system alert right after the system prompt.
    llm.queue(say("hi"))
    await agent.send("after")
    alert = json.loads(llm.requests[-1][1]["content"])
    assert alert["type"] == "system_alert" and "Chad talked about words a lot." in alert["message"]
    # The summariser got the previous summary and the evicted messages.
    assert "message 0" in llm.summary_requests[0][1]["content"]


class Evictions:
    """The window just before and after each eviction, as listeners see it."""

    def __init__(self, agent) -> None:
        self.agent = agent
        self.before: list[Message] = []
        self.seen: list[tuple[list[Message], list[Message]]] = []  # (evicted, window after)
        agent.subscribe(self)

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.Busy) and event.what == "summarising":
            self.before = list(self.agent.buffer)
        elif isinstance(event, ev.Summarized):
            after = list(self.agent.buffer)
            kept = {m.id for m in after}
            self.seen.append(([m for m in self.before if m.id not in kept], after))


async def test_a_turn_that_overflows_twice_keeps_its_question_in_view(make_agent, llm, open_store, limits):
    """A chain of searches with big results fills the window twice in one turn: each eviction leaves
    the question in view and takes the turn's own earlier steps instead, the summariser gets exactly
    what left, recall keeps everything and the state read back holds the same window."""
    agent, rec = await make_agent(context_window=1500)
    evictions = Evictions(agent)
    await answer_after_searches(agent, llm, 8)

    assert rec.of(ev.AssistantMessage)[-1].text == "I know three hundred facts."
    assert len(evictions.seen) >= 2
    for _, window in evictions.seen:
        assert QUESTION in [m.user_text() for m in window]
        assert_units_whole(window)
    # The summariser read exactly what left, in order (in chunks of its own prompt's size).
    read = "".join(r[1]["content"].split("Older messages:\n", 1)[1] for r in llm.summary_requests)
    assert read == "".join(render_for_summary(evicted) for evicted, _ in evictions.seen)
    later = [m for evicted, _ in evictions.seen[1:] for m in evicted]
    assert all(m.kind != "user_message" for m in later)
    assert any(c.name == "archival_memory_search" for m in later for c in m.tool_calls)

    # Recall holds every message; the windows checkpointed read back as they were.
    assert agent.store.count_messages() == agent.recall_count > len(agent.buffer)
    window = [m.id for m in agent.buffer]
    summarised = [c for c in await agent.checkpoints() if c.summary.startswith("summarised")]
    await agent.restore(summarised[0].id)
    assert [m.id for m in agent.buffer] == [m.id for m in evictions.seen[0][1]]
    await agent.restore(summarised[-1].id)
    llm.queue(say("Still three hundred."))
    await agent.send("Sure?")
    window = [m.id for m in agent.buffer]
    await agent.close()
    again = await Agent.load(open_store("tester"), llm, limits)
    assert [m.id for m in again.buffer] == window
    await again.close()


async def test_retry_drops_the_steps_evicted_from_around_the_question(make_agent, llm):
    agent, _ = await make_agent(context_window=1500)
    await answer_after_searches(agent, llm, 8)
    question = next(m for m in agent.buffer if m.kind == "user_message")
    llm.queue(say("Three hundred."))
    await agent.retry()
    after = agent.store.messages_after(question.id, 100)
    assert [m.id for m in after] == [m.id for m in agent.buffer if m.id > question.id]
    assert agent.store.count_messages() == agent.recall_count


def _msg(role: str, **kw) -> Message:
    kind = {"user": "user_message", "assistant": "assistant", "tool": "tool_result"}[role]
    return Message(role=role, kind=kind, **kw)


def test_eviction_never_splits_a_call_from_its_result():
    from memgpt_tui.model.messages import ToolCall

    buffer = []
    for i in range(6):
        buffer.append(_msg("user", content=f"u{i}"))
        buffer.append(
            _msg(
                "assistant",
                content="t",
                tool_calls=(ToolCall(id=f"c{i}", name="send_message", arguments="{}"),),
            )
        )
        buffer.append(_msg("tool", content="ok", tool_call_id=f"c{i}", name="send_message"))
    counts = [10] * len(buffer)
    for target in range(0, 200, 7):
        chosen = to_evict(counts, buffer, target, keep_last=3)
        n = len(chosen)
        assert chosen == list(range(n)), "oldest first, while the question is the newest message"
        assert n == 0 or buffer[n].role != "tool"
        assert n <= len(buffer) - 3
    assert to_evict(counts, buffer, 0, keep_last=3) == list(range(len(buffer) - 3))


def test_eviction_keeps_the_question_a_turn_in_progress_answers():
    from memgpt_tui.model.messages import ToolCall

    def turn(i: int, name: str) -> list[Message]:
        return [_msg("user", content=f"u{i}"), *step(i, name)]

    def step(i: int, name: str) -> list[Message]:
        call = ToolCall(id=f"c{i}", name=name, arguments="{}")
        return [
            _msg("assistant", content="t", tool_calls=(call,)),
            _msg("tool", content="ok", tool_call_id=f"c{i}", name=name),
        ]

    heartbeat = Message(role="user", kind="heartbeat", content="{}")
    # The last turn searched, and its heartbeat comes in: the question stays, the turns before go.
    buffer = turn(0, "send_message") + turn(1, "send_message") + turn(2, "archival_memory_search")
    buffer.append(heartbeat)
    counts = [10] * len(buffer)
    assert to_evict(counts, buffer, 40, keep_last=3) == list(range(6))
    assert buffer[6].kind == "user_message"
    # Its own earlier steps go next, oldest first, around it: never the question itself.
    buffer += step(3, "archival_memory_search") + [heartbeat] + step(4, "archival_memory_search")
    buffer.append(heartbeat)
    counts = [10] * len(buffer)
    assert to_evict(counts, buffer, 80, keep_last=3) == [0, 1, 2, 3, 4, 5, 7, 8]
    assert to_evict(counts, buffer, 0, keep_last=3) == [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]
    # With nothing else to evict, it goes: a forced summary still makes progress.
    alone = turn(0, "archival_memory_search") + [heartbeat]
    assert to_evict([10] * 4, alone, 0, keep_last=2) == [0]


async def test_provider_overflow_error_evicts_and_retries_once(make_agent, llm):
    agent, rec = await make_agent(context_window=4000)
    for i in range(6):
        llm.queue(say(f"r{i}"))
        await agent.send(f"message {i}")
    rec.clear()
    llm.queue(ContextOverflowError("maximum context length exceeded"), say("fits now"))
    await agent.send("big question")
    assert rec.of(ev.Summarized)
    assert rec.of(ev.AssistantMessage)[-1].text == "fits now"
    assert_units_whole(agent.buffer)
    rec.clear()
    llm.queue(ContextOverflowError("too long"), ContextOverflowError("still too long"))
    await agent.send("again")
    assert rec.of(ev.Error) and "too long" in rec.of(ev.Error)[0].text
    assert agent.unanswered() is not None


async def test_summarize_command_and_failed_summariser_fallback(make_agent, llm):
    agent, rec = await make_agent()
    for i in range(6):
        llm.queue(say(f"r{i}"))
        await agent.send(f"message {i}")
    llm.summary = ""  # the model returns nothing useful: a plain note must still be written
    before = len(agent.buffer)
    n = await agent.summarize_now()
    assert 0 < n < before
    assert "moved to recall memory" in agent.state.summary
    assert_units_whole(agent.buffer)


async def test_context_breakdown_categories(make_agent, llm):
    agent, _ = await make_agent()
    ctx = await agent.refresh_context()
    b = ctx.breakdown
    assert b.system > 0 and b.tools > 0 and b.core_memory > 0 and b.messages > 0 and b.summary == 0
    assert ctx.exact and ctx.limit == 4000
    before = b.core_memory
    await agent.update_block("human", "The user is Chad. He sails a small boat called Petrel on weekends.")
    assert agent.last_context.breakdown.core_memory > before


async def test_usage_prompt_tokens_reconciles_the_gauge(make_agent, llm):
    agent, _ = await make_agent()
    predicted = (await agent.refresh_context()).used

    def reply(messages):
        r = say("hi")
        r.prompt_tokens = predicted + 57  # the provider counts template tokens we can't see
        return r

    llm.queue(reply)
    await agent.send("x")
    assert agent.state.prompt_history[-1] == predicted + 57
    assert agent.window.builder.correction != 0


async def test_a_partial_prompts_count_leaves_the_gauge_on_the_kept_context(make_agent, llm):
    """A layout showing the model part of the context (the notes wrapper): the server's smaller count
    does not pull the gauge, or the warning, below the context the agent keeps."""
    agent, _ = await make_agent()
    llm.layout.partial = True
    agent.window.builder.layout = llm.layout
    predicted = (await agent.refresh_context()).used

    def reply(messages):
        r = say("hi")
        r.prompt_tokens = 300  # the short prompt the model saw
        return r

    llm.queue(reply)
    await agent.send("x")
    assert agent.state.prompt_history[-1] >= predicted
    assert agent.window.builder.correction == 0
    assert agent.last_context.breakdown.system > 0


async def test_a_message_that_cannot_fit_the_window_is_refused_at_the_door(make_agent, llm):
    agent, rec = await make_agent(context_window=800)
    before = agent.recall_count
    llm.queue(say("never"))
    await agent.send(" ".join(["huge"] * 1000))
    error = rec.of(ev.Error)[0]
    assert "The message is 1,0" in error.text and "context window of 800" in error.text
    assert "Nothing was sent" in error.hint
    assert agent.unanswered() is None and agent.recall_count == before and not llm.requests


async def test_a_window_smaller_than_the_fixed_prompt_is_refused(make_agent):
    with pytest.raises(AgentError, match="Use --context-window"):
        await make_agent(context_window=300)


async def test_a_summary_from_the_model_is_cleaned_and_bounded():
    llm = ScriptedLLM(summary="half \ud800 pair \x00 " * 100_000)
    summary = await summarize(llm, None, [user_message("hello", 1)], word_limit=150)
    summary.encode("utf-8")
    assert "\x00" not in summary and summary.startswith("half \ufffd pair")
    assert len(summary) <= 150 * 20
