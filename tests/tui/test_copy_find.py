"""Copy the selected message, and find in the whole recall history (jumping to rows not mounted yet)."""

from __future__ import annotations

import asyncio
import json

from memgpt_tui.model.messages import Message, ToolCall, user_message
from memgpt_tui.tui.widgets.conversation import AROUND, FIRST_PAGE, Conversation, plain
from memgpt_tui.tui.widgets.rows import ReplyRow, ToolRow, UserRow
from tests.fakes.scripted_llm import call, say
from tests.tui.conftest import app_for, idle, ready, type_and_send
from tests.tui.hosting import wait_until


async def test_copy_puts_the_selected_reply_or_tool_call_on_the_clipboard(make_agent, llm) -> None:
    agent = await make_agent()
    llm.queue(
        call("core_memory_append", "Note it.", label="human", content="Likes green tea.", heartbeat=True),
        say("Noted: **green tea**."),
    )
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await type_and_send(pilot, "I like green tea")
        await idle(pilot)
        conv = main.conversation
        conv.focus()
        await pilot.press("c")
        assert pilot.app.clipboard == "", "nothing is selected yet: nothing is copied"
        await pilot.press("up")  # the newest message at the bottom of the view
        assert isinstance(conv.selected, ReplyRow)
        await pilot.press("c")
        assert pilot.app.clipboard == "Noted: **green tea**."  # the reply's Markdown source
        while not isinstance(conv.selected, ToolRow):
            await pilot.press("up")
        await pilot.press("c")
        copied = pilot.app.clipboard
        assert copied.startswith("core_memory_append\narguments:\n")
        assert '"content": "Likes green tea."' in copied
        assert "result (ok):" in copied
        await pilot.press("up", "up")  # its inner thought, then the user's message
        assert isinstance(conv.selected, UserRow)
        await pilot.press("c")
        assert pilot.app.clipboard == "I like green tea"
        # a click selects too
        await pilot.click(ReplyRow)
        assert isinstance(conv.selected, ReplyRow)


def exchanges(turns: int, marked: set[int]) -> list[Message]:
    """``turns`` question/answer pairs; the questions in ``marked`` mention a zebra."""
    out: list[Message] = []
    for i in range(turns):
        reply = ToolCall(
            id=f"call_{i}", name="send_message", arguments=json.dumps({"message": f"answer {i}"})
        )
        zebra = " about the zebra" if i in marked else ""
        out += [
            user_message(f"question {i}{zebra}", 0),
            Message(role="assistant", kind="assistant", content="thinking", tool_calls=(reply,)),
        ]
    return out


def numbers(conv: Conversation) -> list[int]:
    return [int(r.text.split()[1]) for r in conv.query(UserRow)]


async def test_find_jumps_to_messages_not_mounted_yet_and_steps_through_them(make_agent) -> None:
    agent = await make_agent()
    history = exchanges(400, marked={7, 200})
    await asyncio.to_thread(agent.store.append_messages, history)
    agent.window.recall_count += len(history)
    agent.window.messages = history[-4:]
    agent.state.step = 400
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        conv = main.conversation
        assert numbers(conv) == list(range(400 - FIRST_PAGE // 2, 400))
        await pilot.press("ctrl+f")
        assert main.find.display and main.find.input.has_focus
        await pilot.press(*"zebra", "enter")

        async def found(n: int) -> UserRow:
            await wait_until(
                pilot, lambda: getattr(conv.selected, "text", "").startswith(f"question {n} "), 20
            )
            row = conv.selected
            assert isinstance(row, UserRow) and row.has_class("-selected")
            await pilot.pause()
            top, height = conv.scroll_y, conv.scrollable_content_region.height
            assert top <= row.virtual_region.y < top + height, "the match is in view"
            return row

        await found(200)  # the newest match first, 170 exchanges above the mounted ones
        assert str(main.find.counter.render()) == "1 of 2"
        # a page around the match is mounted, not everything in between: that waits behind a gap row
        assert (
            200 - AROUND // 2
            <= numbers(conv)[0]
            < 200
            < numbers(conv)[len(numbers(conv)) - FIRST_PAGE // 2 - 1]
        )
        assert len(conv.children) < 250
        assert conv._gap is not None and "newer messages not shown yet" in str(conv._gap.render())
        await pilot.press("enter")  # the next match, back in time
        await found(7)
        assert str(main.find.counter.render()) == "2 of 2"
        await pilot.press("shift+enter")  # forward again: it was behind the gap
        await found(200)
        await pilot.press("enter", "enter")  # wraps around: 7, then 200 again
        await wait_until(pilot, lambda: str(main.find.counter.render()) == "1 of 2", 20)
        await found(200)
        # Esc leaves the match selected, and copy acts on it
        await pilot.press("escape")
        assert not main.find.display and conv.has_focus
        await pilot.press("c")
        assert pilot.app.clipboard == "question 200 about the zebra"
        # stepping down from the last row above the gap mounts what it holds: no message is skipped
        assert conv._gap is not None
        children = list(conv.children)
        above = children[children.index(conv._gap) - 1]
        conv.select(above)
        last = max(
            int(r.text.split()[1]) for r in children[: children.index(above)] if isinstance(r, UserRow)
        )
        seen = []
        for _ in range(6):
            await pilot.press("down")
            if isinstance(conv.selected, UserRow):
                seen.append(int(conv.selected.text.split()[1]))
        assert seen == [last + 1, last + 2]
        # scrolling down to the gap mounts what it holds, until nothing is missing
        for _ in range(20):
            if conv._gap is None:
                break
            conv.scroll_to_widget(conv._gap, animate=False, immediate=True)
            await pilot.pause(0.1)
        assert conv._gap is None
        shown = numbers(conv)
        assert shown == list(range(shown[0], 400)), "no message is missing between the match and the newest"


async def test_find_without_a_match_says_so(make_agent, llm) -> None:
    agent = await make_agent()
    llm.queue(say("Tea it is."))
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await type_and_send(pilot, "tea please")
        await idle(pilot)
        await pilot.press("ctrl+f", *"zebra", "enter")
        await wait_until(pilot, lambda: "No match" in str(main.find.counter.render()))
        assert main.conversation.selected is None
        await pilot.press("escape")
        assert main.chat.has_focus


async def test_find_goes_on_from_the_match_shown_when_new_messages_arrive(make_agent, llm) -> None:
    agent = await make_agent()
    llm.queue(say("Tea it is."), say("More tea coming."))
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await type_and_send(pilot, "tea please")
        await idle(pilot)
        await pilot.press("ctrl+f", *"tea", "enter")
        await wait_until(pilot, lambda: str(main.find.counter.render()) == "1 of 2")
        assert plain(main.conversation.selected) == "Tea it is."  # type: ignore[arg-type]
        await type_and_send(pilot, "and more tea")  # the bar stays open
        await idle(pilot)
        main.find.input.focus()
        await pilot.press("enter")  # searched again: two new matches, and on back in time from the one shown
        await wait_until(pilot, lambda: str(main.find.counter.render()) == "4 of 4")
        assert plain(main.conversation.selected) == "tea please"  # type: ignore[arg-type]
