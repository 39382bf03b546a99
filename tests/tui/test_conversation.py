"""The conversation pane: sending, streaming, thoughts, tool rows, system lines, errors, paging."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from memgpt_tui.engine.agent import Agent
from memgpt_tui.llm.base import LLMResponse
from memgpt_tui.model.errors import BackendUnavailable
from memgpt_tui.model.messages import Message, ToolCall, user_message
from memgpt_tui.tui.widgets.conversation import FIRST_PAGE, OUT_OF_CONTEXT, WINDOW, Conversation, plain
from memgpt_tui.tui.widgets.rows import ErrorRow, ReplyRow, SystemRow, ThoughtRow, ToolRow, UserRow
from tests.fakes.scripted_llm import QUESTION, ScriptedLLM, answer_after_searches, call, say
from tests.tui.conftest import app_for, idle, ready, texts, type_and_send
from tests.tui.hosting import wait_until


class StreamingLLM(ScriptedLLM):
    """Streams the reply on the "message" channel too, and can hold the call open mid-stream."""

    def __init__(self) -> None:
        super().__init__()
        self.hold: asyncio.Event | None = None

    async def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], **kw: Any
    ) -> LLMResponse:
        on_token = kw.get("on_token")
        reply = self.replies[0]
        if on_token and isinstance(reply, LLMResponse):
            text = json.loads(reply.tool_calls[0].arguments)["message"]
            half = len(text) // 2
            on_token("message", text[:half])
            if self.hold is not None:
                await self.hold.wait()
            on_token("message", text[half:])
        return await super().complete(messages, tools, **kw)


async def test_send_shows_user_thought_and_reply(make_agent, llm) -> None:
    agent = await make_agent()
    llm.queue(say("Hello **Chad**!", thought="Greet him."))
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await type_and_send(pilot, "hi there")
        await idle(pilot)
        assert texts(main, "UserRow")[-1] == "hi there"
        assert main.conversation.query(ThoughtRow).last().text.strip() == "Greet him."
        reply = main.conversation.query(ReplyRow).last()
        assert reply.text == "Hello **Chad**!"
        rendered = "".join(s.text for s in reply.render_lines(reply.region.reset_offset)[1])
        assert "Hello Chad!" in rendered  # Markdown, rendered
        # send_message is the reply itself, not a tool row
        assert not main.conversation.query(ToolRow)


async def test_reply_streams_in_place_then_final_update(make_agent, home) -> None:
    llm = StreamingLLM()
    agent = await make_agent()
    agent.session.llm = llm
    llm.hold = asyncio.Event()
    llm.queue(say("The quick brown fox jumps", thought="Answer."))
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        before = len(main.conversation.query(ReplyRow))
        await type_and_send(pilot, "tell me")
        await wait_until(pilot, lambda: len(main.conversation.query(ReplyRow)) > before)
        streaming = main.conversation.query(ReplyRow).last()
        await wait_until(pilot, lambda: streaming.text == "The quick br")
        assert main.busy
        llm.hold.set()
        await idle(pilot)
        rows = main.conversation.query(ReplyRow)
        assert rows.last() is streaming, "the streamed row is updated in place, not duplicated"
        assert streaming.text == "The quick brown fox jumps"


async def test_tool_calls_are_collapsed_rows_and_failures_are_marked(make_agent, llm) -> None:
    agent = await make_agent()
    llm.queue(
        call("core_memory_append", "Note it.", label="human", content="Likes tea.", heartbeat=True),
        call("core_memory_replace", "Fix it.", label="human", old_content="absent", new_content="x"),
        say("Noted!"),
    )
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await type_and_send(pilot, "I like tea")
        await idle(pilot)
        tools = list(main.conversation.query(ToolRow))
        assert [t.entry.name for t in tools] == ["core_memory_append", "core_memory_replace"]
        assert all(t.collapsed for t in tools)
        assert tools[0].entry.ok and not tools[0].has_class("-failed")
        assert tools[1].entry.ok is False and tools[1].has_class("-failed")
        assert "ok" in tools[0].title and "failed" in tools[1].title
        heartbeats = [r for r in main.conversation.query(SystemRow) if r.kind == "heartbeat"]
        assert len(heartbeats) == 2  # requested, then after the failure
        tools[1].collapsed = False
        await pilot.pause()
        assert "absent" in str(tools[1].query_one(".tool-body").render())


async def test_backend_errors_show_text_and_hint(make_agent, llm) -> None:
    agent = await make_agent()
    llm.queue(BackendUnavailable("Nothing answers at http://127.0.0.1:9", hint="Start your model server."))
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await type_and_send(pilot, "hello?")
        await idle(pilot)
        error = str(main.conversation.query(ErrorRow).last().render())
        assert "Nothing answers" in error and "Start your model server." in error
        # the message is kept for /retry, and the input is ready again
        assert texts(main, "UserRow")[-1] == "hello?"
        assert agent.unanswered() is not None


async def test_pending_message_is_announced(make_agent, llm) -> None:
    agent = await make_agent()
    llm.queue(BackendUnavailable("Nothing answers."))
    await agent.send("are you there?")  # the model was down: the message stays unanswered
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        notes = texts(main, "SystemRow")
        assert any("are you there?" in n and "/retry" in n for n in notes)


async def test_login_greeting_for_new_agent(make_agent, llm) -> None:
    agent = await make_agent(login=False)
    assert agent.needs_greeting
    llm.queue(say("Hi, I'm Sam. Who are you?"))
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await wait_until(
            pilot, lambda: main.conversation.query(ReplyRow).last().text.startswith("Hi, I'm Sam")
        )
        assert any(r.kind == "login" for r in main.conversation.query(SystemRow))


def exchange(i: int) -> list[Message]:
    reply = ToolCall(
        id=f"call_{i}", name="send_message", arguments=json.dumps({"message": f"old answer {i}"})
    )
    return [
        user_message(f"old question {i}", 0),
        Message(role="assistant", kind="assistant", content="thinking", tool_calls=(reply,)),
    ]


async def long_history(agent: Agent, turns: int) -> list[Message]:
    """Write ``turns`` exchanges straight to recall memory."""
    messages = [m for i in range(turns) for m in exchange(i)]
    await asyncio.to_thread(agent.store.append_messages, messages)
    agent.window.recall_count += len(messages)
    return messages


async def test_long_conversation_mounts_a_window_and_pages_older(make_agent, llm) -> None:
    agent = await make_agent()
    old = await long_history(agent, 250)
    # the agent's window holds only the newest few; the rest is recall
    agent.window.messages = old[-4:]
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        conv = main.conversation
        users = lambda: [r.text for r in conv.query(UserRow)]  # noqa: E731
        assert len(users()) == FIRST_PAGE // 2  # one user message per two-message exchange
        assert users()[-1] == "old question 249"
        first_before = users()[0]
        conv.action_scroll_home()
        await wait_until(pilot, lambda: users()[0] != first_before)
        assert len(users()) == (FIRST_PAGE + WINDOW) // 2
        n = int(users()[0].split()[-1])
        assert n < int(first_before.split()[-1])
        # keep scrolling to the top: page after page, down to the very first message

        def at_first_message() -> bool:
            conv.action_scroll_home()  # the Home key
            return users()[0] == "old question 0"

        await wait_until(pilot, at_first_message)


async def test_rows_are_pruned_at_the_bottom_and_come_back_on_scroll(make_agent, llm, monkeypatch) -> None:
    from memgpt_tui.tui.widgets import conversation

    monkeypatch.setattr(conversation, "MAX_ROWS", 40)
    monkeypatch.setattr(conversation, "KEEP_ROWS", 20)
    agent = await make_agent()
    old = await long_history(agent, 100)
    agent.window.messages = old[-4:]
    agent.state.step = 100  # past its first step: an agent whose window lost the login does not greet
    llm.queue(say("fresh answer"))
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        conv = main.conversation
        assert len(conv.children) > 40
        await type_and_send(pilot, "new question")
        await idle(pilot)
        await wait_until(pilot, lambda: len(conv.children) <= 21)
        assert conv.query(UserRow).last().text == "new question"
        kept = [r.text for r in conv.query(UserRow)]
        conv.scroll_home(animate=False, immediate=True)
        await wait_until(pilot, lambda: len(conv.query(UserRow)) > len(kept))
        numbers = [int(r.text.split()[-1]) for r in conv.query(UserRow) if r.text.startswith("old question")]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), "no gap where rows were pruned"
        assert numbers[-1] == 99


async def test_reply_cut_short_keeps_what_streamed(make_agent) -> None:
    class CutShort(StreamingLLM):
        async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], **kw: Any):
            kw["on_token"]("message", "Half a rep")
            raise BackendUnavailable("Nothing answers at http://127.0.0.1:9", hint="Start your model server.")

    agent = await make_agent()
    agent.session.llm = CutShort()
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await type_and_send(pilot, "tell me")
        await idle(pilot)
        reply = main.conversation.query(ReplyRow).last()
        assert reply.text == "Half a rep"
        assert reply.size.height == 2, "the speaker and the text, without room left to grow into"


def evicted_from_the_middle(window: tuple[Message, ...], stored: list[Message]) -> list[Message]:
    """The stored messages evicted from between ones still in the context window."""
    ids = {m.id for m in window}
    return [m for m in stored if window[0].id < m.id < window[-1].id and m.id not in ids]


def assert_marked_out_of_context(
    conversation: Conversation, window: tuple[Message, ...], evicted: list[Message]
) -> None:
    """The rows of ``evicted`` come in one run marked out of context, under a divider naming their
    steps; the rows below it show the window's messages, unmarked."""
    rows = [r for r in conversation.rows() if getattr(r, "source_id", None)]
    marked = [r for r in rows if r.has_class("-out-of-context")]
    shown = {m.id for m in evicted if m.kind != "tool_result"}  # a result is shown in its call's row
    assert marked and {r.source_id for r in marked} == shown  # type: ignore[attr-defined]
    start = rows.index(marked[0])
    assert rows[start : start + len(marked)] == marked, "one run"
    divider = rows[start - 1]
    assert isinstance(divider, SystemRow) and divider.kind == "divider"
    steps = sum(m.kind == "assistant" for m in evicted)
    assert plain(divider).startswith(f"↓ The next {steps} step"), plain(divider)
    below = rows[start + len(marked) :]
    in_view = {m.id for m in window}
    assert below and all(r.source_id in in_view and not r.has_class("-out-of-context") for r in below)  # type: ignore[attr-defined]
    assert not [r for r in below if isinstance(r, SystemRow) and r.kind == "divider"]


def counting_reads(agent: Any) -> list[str | None]:
    """The ``before_id`` of each page the pane reads from the agent, from now on."""
    reads: list[str | None] = []
    read = agent.older_messages

    async def counted(before_id: str | None, limit: int) -> list[Message]:
        reads.append(before_id)
        return await read(before_id, limit)

    agent.older_messages = counted
    return reads


async def test_steps_evicted_around_a_kept_question_are_shown_where_they_happened(make_agent, llm) -> None:
    agent = await make_agent()
    await answer_after_searches(agent, llm, 3)
    await agent.summarize_now()  # the question stays in view; the turn's first searches leave it
    question = next(m for m in agent.buffer if m.kind == "user_message")
    stored = agent.store.recent_messages(None, FIRST_PAGE)
    evicted = evicted_from_the_middle(tuple(agent.buffer), stored)
    assert evicted and question.id < evicted[0].id
    reads = counting_reads(agent)
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        assert reads == [None], "the newest page in one read"
        rows = [r for r in main.conversation.rows() if getattr(r, "source_id", None)]
        shown = [r.source_id for r in rows]  # type: ignore[attr-defined]
        assert shown == sorted(shown), "in the order they happened"
        searches = [r for r in rows if isinstance(r, ToolRow)]
        assert len(searches) == 3 and all("fact299" in (r.entry.result or "") for r in searches)
        assert texts(main, "UserRow")[-1] == QUESTION
        assert shown.index(question.id) < shown.index(searches[0].source_id)  # type: ignore[attr-defined]
        # Those searches are marked out of context; the question above them and the rest are in it.
        assert_marked_out_of_context(main.conversation, tuple(agent.buffer), evicted)
        user = main.conversation.query_one(UserRow)
        assert user.source_id == question.id and not user.has_class("-out-of-context")


async def test_steps_evicted_mid_turn_are_marked_when_the_page_is_reloaded(make_agent, llm) -> None:
    agent = await make_agent()
    await answer_after_searches(agent, llm, 3)
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        conv = main.conversation
        assert not conv.query(".-out-of-context")
        await type_and_send(pilot, "/summarize")
        await idle(pilot)
        await type_and_send(pilot, "/rethink Thought over.")  # an edit: the page is read again
        await wait_until(pilot, lambda: conv.query(".-out-of-context"))
        evicted = evicted_from_the_middle(tuple(agent.buffer), agent.store.recent_messages(None, FIRST_PAGE))
        assert_marked_out_of_context(conv, tuple(agent.buffer), evicted)


async def test_steps_evicted_mid_turn_are_marked_when_scrolled_back_to(make_agent, llm, monkeypatch) -> None:
    from memgpt_tui.tui.widgets import conversation

    monkeypatch.setattr(conversation, "FIRST_PAGE", 4)  # the newest page: the end of the turn alone
    agent = await make_agent()
    await answer_after_searches(agent, llm, 3)
    await agent.summarize_now()
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        conv = main.conversation
        assert not conv.query(".-out-of-context") and not conv.query(UserRow)
        await pilot.click(".edge")  # "Scroll up for older messages": too few rows to scroll yet
        await wait_until(pilot, lambda: conv.query(UserRow))
        evicted = evicted_from_the_middle(tuple(agent.buffer), agent.store.recent_messages(None, FIRST_PAGE))
        assert_marked_out_of_context(conv, tuple(agent.buffer), evicted)


def dividers(conversation: Conversation) -> list[str]:
    return [plain(r) for r in conversation.rows() if isinstance(r, SystemRow) and r.kind == "divider"]


def run_counts(conversation: Conversation) -> list[str]:
    """What the dividers above evicted runs count: "↓ The next 2 steps"."""
    return [d.split(" left the agent's")[0] for d in dividers(conversation) if d != OUT_OF_CONTEXT]


async def test_steps_a_running_turn_evicts_are_marked_as_they_leave(make_agent, llm) -> None:
    """Search after search fills the window during one turn: the steps evicted from around its question
    are dimmed under their divider, and the divider of the window's start moves above the question,
    while the turn still runs, without the page being read again."""
    agent = await make_agent(context_window=1500)
    await agent.insert_archival(" ".join(f"fact{i}" for i in range(300)))
    search = call("archival_memory_search", heartbeat=True, query="facts")

    def last_search(messages: list[dict[str, Any]]) -> LLMResponse:
        llm.block = asyncio.Event()  # the answer waits: the turn is still running
        return search

    llm.queue(*[search] * 7, last_search, say("I know three hundred facts."))
    reads = counting_reads(agent)
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        conv = main.conversation
        await type_and_send(pilot, QUESTION)
        await wait_until(pilot, lambda: llm.block is not None and len(llm.requests) == 9)
        window = agent.snapshot().in_context
        evicted = evicted_from_the_middle(window, agent.store.recent_messages(None, FIRST_PAGE))
        assert len([m for m in evicted if m.kind == "assistant"]) > 1
        shown = {m.id for m in evicted if m.kind != "tool_result"}
        await wait_until(pilot, lambda: {r.source_id for r in conv.query(".-out-of-context")} == shown)  # type: ignore[attr-defined]
        assert main.busy and reads == [None]
        assert_marked_out_of_context(conv, window, evicted)
        rows = [r for r in conv.rows() if getattr(r, "source_id", None)]
        question = conv.query(UserRow).last()
        assert question.text == QUESTION and question.source_id == window[0].id
        above = rows[rows.index(question) - 1]
        assert dividers(conv)[0] == plain(above) == OUT_OF_CONTEXT
        assert len(run_counts(conv)) == 1

        llm.block.set()
        await idle(pilot)
        assert reads == [None]
        assert_marked_out_of_context(conv, agent.snapshot().in_context, evicted)


async def test_a_run_evicted_across_a_page_boundary_gets_one_divider(make_agent, llm, monkeypatch) -> None:
    from memgpt_tui.tui.widgets import conversation

    agent = await make_agent()
    await answer_after_searches(agent, llm, 3)
    await agent.summarize_now()
    window = agent.snapshot().in_context
    stored = agent.store.recent_messages(None, FIRST_PAGE)
    evicted = evicted_from_the_middle(window, stored)
    steps = [m for m in evicted if m.kind == "assistant"]
    assert len(steps) == 2
    # The newest page starts at the run's second step: the first is on the page before.
    monkeypatch.setattr(conversation, "FIRST_PAGE", len([m for m in stored if m.id >= steps[1].id]))
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        conv = main.conversation
        assert run_counts(conv) == ["↓ The next 1 step"]
        await pilot.click(".edge")  # "Scroll up for older messages": too few rows to scroll yet
        await wait_until(pilot, lambda: conv.query(UserRow))
        assert_marked_out_of_context(conv, window, evicted)
        assert dividers(conv)[0] == OUT_OF_CONTEXT
        assert run_counts(conv) == ["↓ The next 2 steps"]


async def test_the_window_start_on_a_page_boundary_keeps_its_divider(make_agent, llm, monkeypatch) -> None:
    from memgpt_tui.tui.widgets import conversation

    agent = await make_agent()
    await answer_after_searches(agent, llm, 3)
    await agent.summarize_now()
    window = agent.snapshot().in_context
    assert window[0].kind == "user_message"
    stored = agent.store.recent_messages(None, FIRST_PAGE)
    # The newest page starts at the window's first message: the messages before it are on older pages.
    monkeypatch.setattr(conversation, "FIRST_PAGE", len([m for m in stored if m.id >= window[0].id]))

    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        conv = main.conversation

        def above_the_question() -> str:
            rows = conv.rows()
            question = conv.query_one(UserRow)
            assert question.source_id == window[0].id
            return plain(rows[rows.index(question) - 1])

        assert above_the_question() == OUT_OF_CONTEXT
        conv.action_scroll_home()
        await wait_until(pilot, lambda: min(r.source_id or "~" for r in conv.rows()) < window[0].id)  # type: ignore[attr-defined]
        assert above_the_question() == OUT_OF_CONTEXT
        assert dividers(conv).count(OUT_OF_CONTEXT) == 1
