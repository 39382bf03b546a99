"""The input: history, completion and suggestions, huge pastes, Esc cancelling a step in flight."""

from __future__ import annotations

import asyncio

from textual import events
from textual.widgets import Static

from memgpt_tui.tui.widgets.chat_input import HUGE_PASTE, ChatInput
from memgpt_tui.tui.widgets.rows import UserRow
from memgpt_tui.tui.widgets.status_line import IDLE, StatusLine
from tests.fakes.scripted_llm import say
from tests.tui.conftest import app_for, idle, ready, type_and_send
from tests.tui.hosting import wait_until


async def test_up_down_walk_the_history(make_agent, llm) -> None:
    agent = await make_agent()
    llm.queue(say("one back"), say("two back"))
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        chat = main.query_one(ChatInput)
        for text in ("first message", "second\nmessage"):
            await type_and_send(pilot, text)
            await idle(pilot)
        chat.load_text("draft")
        chat.move_cursor((0, 0))
        await pilot.press("up")
        assert chat.text == "second\nmessage"
        chat.move_cursor((0, 0))
        await pilot.press("up")
        assert chat.text == "first message"
        await pilot.press("up")
        assert chat.text == "first message"
        await pilot.press("down")
        assert chat.text == "second\nmessage"
        await pilot.press("down")  # cursor is on the last line after recall: leaves history
        assert chat.text == "draft"


async def test_enter_sends_and_ctrl_j_adds_a_line(make_agent, llm) -> None:
    agent = await make_agent()
    llm.queue(say("ok"))
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        main.query_one(ChatInput).focus()
        await pilot.press("a", "ctrl+j", "b")
        assert main.query_one(ChatInput).text == "a\nb"
        await pilot.press("enter")
        await idle(pilot)
        assert main.conversation.query(UserRow).last().text == "a\nb"
        assert main.query_one(ChatInput).text == ""


async def test_tab_completes_and_suggestions_list_matches(make_agent) -> None:
    agent = await make_agent()
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        chat = main.query_one(ChatInput)
        box = main.query_one("#suggestions", Static)
        chat.focus()
        await pilot.press("/", "m", "e")
        await wait_until(pilot, lambda: box.display)
        shown = str(box.render())
        assert "/memory" in shown and "/memorywarning" in shown and "Show core memory" in shown
        assert "/save" not in shown
        await pilot.press("tab")
        assert chat.text == "/memory"
        chat.load_text("/sa")
        await pilot.press("tab")
        assert chat.text == "/save "
        await wait_until(pilot, lambda: "Save a named checkpoint" in str(box.render()))
        chat.load_text("/tok")
        await pilot.press("tab")
        assert chat.text == "/tokens"
        chat.load_text("/zz")
        await wait_until(pilot, lambda: "No command starts with /zz" in str(box.render()))
        chat.load_text("hello")
        await wait_until(pilot, lambda: not box.display)
        await pilot.press("tab")  # not a command: Tab moves focus as usual
        assert not chat.has_focus


async def test_huge_paste_is_accepted_with_a_warning(make_agent) -> None:
    agent = await make_agent()
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        chat = main.query_one(ChatInput)
        chat.focus()
        text = ("All work and no play makes Jack a dull boy. " * 40 + "\n") * 60
        assert len(text) > HUGE_PASTE
        pilot.app.post_message(events.Paste(text))  # as the terminal delivers it
        await wait_until(pilot, lambda: chat.text == text)
        await pilot.pause()
        assert any("long message" in n.message for n in pilot.app._notifications)


async def test_escape_cancels_the_step_and_returns_the_text(make_agent, llm) -> None:
    agent = await make_agent()
    llm.block = asyncio.Event()
    recall_before = agent.recall_count
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await type_and_send(pilot, "please think hard")
        await wait_until(pilot, lambda: agent.unanswered() is not None)
        status = main.query_one(StatusLine)
        assert status.has_class("-busy") and "Esc cancels" in str(status.render())
        await pilot.press("escape")
        await idle(pilot)
        chat = main.query_one(ChatInput)
        assert chat.text == "please think hard"
        await wait_until(pilot, lambda: not main.conversation.query(UserRow))
        assert agent.recall_count == recall_before and agent.unanswered() is None
        assert str(status.render()) == IDLE
        notes = [str(r.render()) for r in main.conversation.query("SystemRow")]
        assert any("cancelled" in n for n in notes)
        # the agent is usable again
        llm.block = None
        llm.queue(say("Here I am."))
        await pilot.press("enter")
        await idle(pilot)
        assert main.conversation.query(UserRow).last().text == "please think hard"


async def test_sending_while_busy_keeps_the_text(make_agent, llm) -> None:
    agent = await make_agent()
    llm.block = asyncio.Event()
    llm.queue(say("done"))
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await type_and_send(pilot, "first")
        await wait_until(pilot, lambda: main.busy)
        await type_and_send(pilot, "second")
        assert main.query_one(ChatInput).text == "second"
        llm.block.set()
        await idle(pilot)
        assert [r.text for r in main.conversation.query(UserRow)] == ["first"]


async def test_keys_typed_faster_than_handled_apply_in_order(make_agent) -> None:
    agent = await make_agent()
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        for key in ("b", "a", "backspace", "c", "left", "x"):
            pilot.app.post_message(events.Key(key, key if len(key) == 1 else None))
        await wait_until(pilot, lambda: len(main.chat.text) == 3)
        assert main.chat.text == "bxc"  # the backspace and the arrow ran before the next character
