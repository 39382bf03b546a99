"""The screens fit the terminal they are given, from 80x24 up, and follow it as it is resized."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from textual.errors import NoWidget
from textual.geometry import Region
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

from memgpt_tui.config import Settings
from memgpt_tui.runtime import AgentInfo
from memgpt_tui.tui.app import MemGPTApp
from memgpt_tui.tui.screens.checkpoints import CheckpointBrowser
from memgpt_tui.tui.screens.help import HelpScreen
from memgpt_tui.tui.screens.importing import ImportModal
from memgpt_tui.tui.screens.main import MainScreen
from memgpt_tui.tui.screens.memory_browser import MemoryBrowser
from memgpt_tui.tui.screens.picker import AgentPicker
from memgpt_tui.tui.screens.setup import SetupScreen
from memgpt_tui.tui.widgets.core_memory import BlockView
from tests.fakes.scripted_llm import call, say
from tests.tui.conftest import app_for, idle, ready, texts, type_and_send
from tests.tui.frozen import FrozenAgent
from tests.tui.hosting import SCREEN_SIZES, HostApp, wait_until

SIZES = [*SCREEN_SIZES, (80, 23)]  # and a default terminal under tmux's status line


def shown(widget: Widget) -> Region:
    """The part of ``widget`` drawn on its screen: empty when hidden or scrolled out of its container."""
    try:
        return widget.screen.find_widget(widget).visible_region
    except NoWidget:
        return Region()


def assert_fits(widget: Widget, rows: int, size: tuple[int, int]) -> None:
    region = shown(widget)
    assert region.height >= rows and region.width >= 10, f"{widget} at {size}: {region}"
    if widget.styles.border.top[0]:  # a box drawn empty is what a zero-height pane looks like
        assert widget.content_region.height >= 1, f"{widget} at {size} has an empty box"


async def resize(pilot: Pilot[Any], size: tuple[int, int]) -> None:
    await pilot.resize_terminal(*size)
    await pilot.pause()
    await pilot.pause()


def at_bottom(conversation: Widget) -> bool:
    """The newest row is drawn whole."""
    newest = conversation.children[-1]
    return shown(newest) == newest.screen.find_widget(newest).region


def label_lines(main: MainScreen) -> list[Widget]:
    """The line naming each core block: its one-line form in the strip, else its header."""
    strip = main.has_class("-narrow") and not main.has_class("-memory-open")
    return [view.query_one(".block-line" if strip else ".block-header") for view in main.query(BlockView)]


async def test_main_screen_keeps_every_pane_visible_at_every_size(make_agent, llm) -> None:
    agent = await make_agent()
    llm.queue(call("core_memory_append", "Noted.", label="human", content="Likes tea."), say("Tea it is."))
    async with app_for(agent).run_test(size=SIZES[0]) as pilot:
        main = await ready(pilot)
        await type_and_send(pilot, "I like tea")
        await idle(pilot)
        for size in SIZES:
            await resize(pilot, size)
            assert main.has_class("-narrow") == (size[0] < 100), size
            for widget, rows in [(main.conversation, 5), (main.gauge, 1), (main.chat, 1)]:
                assert_fits(widget, rows, size)
            assert_fits(main.query_one(Footer), 1, size)
            for line in label_lines(main):
                assert_fits(line, 1, size)
            if main.has_class("-wide"):  # the room goes to both panes
                width = size[0]
                assert shown(main.conversation).width >= width // 2 and shown(main.memory).width >= width // 4
            if main.has_class("-narrow"):  # F2 swaps the conversation for the whole core memory pane
                await pilot.press("f2")
                await pilot.pause()
                assert not shown(main.conversation) and main.has_class("-memory-open")
                for line in label_lines(main):
                    assert_fits(line, 1, size)
                assert_fits(main.memory, 8, size)
                await pilot.press("f2")
                await pilot.pause()
                assert main.chat.has_focus and shown(main.conversation)


async def test_short_screens_fold_the_note_and_the_input_to_one_line(make_agent) -> None:
    agent = await make_agent(backend="embedded")
    async with app_for(agent).run_test(size=(80, 24)) as pilot:
        main = await ready(pilot)
        note = main.query_one("#embedded-note")
        assert shown(note).height == 1 and shown(main.chat).height == 1
        assert main.check_action("toggle_note", ())  # F3 is in the footer
        await pilot.press("f3")
        await pilot.pause()
        assert shown(note).height > 1
        main.chat.load_text("two\nlines")
        await pilot.pause()
        assert shown(main.chat).height == 2
        await resize(pilot, (120, 40))
        assert not main.check_action("toggle_note", ())  # the whole note shows: nothing to unfold


async def test_resizing_while_a_reply_streams_keeps_the_scroll_and_the_input(make_agent, llm) -> None:
    agent = await make_agent()
    llm.queue(*(say(f"Answer number {n}, long enough to wrap differently at each width.") for n in range(3)))
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        for n in range(2):
            await type_and_send(pilot, f"question {n}")
            await idle(pilot)
        conversation = main.conversation
        assert at_bottom(conversation)
        held = llm.block = asyncio.Event()
        await type_and_send(pilot, "one more")
        await wait_until(pilot, lambda: main.busy and llm.requests)
        main.chat.load_text("a draft typed meanwhile")
        main.chat.move_cursor((0, 7))
        for size in [(80, 24), (200, 60), (80, 23)]:
            await resize(pilot, size)
            assert at_bottom(conversation), size  # still following the reply
            assert main.chat.text == "a draft typed meanwhile" and main.chat.cursor_location == (0, 7)
        await pilot.press("f2")  # the reply lands while core memory has the conversation's place
        held.set()
        await idle(pilot)
        await pilot.press("f2")
        await pilot.pause()
        assert at_bottom(conversation) and main.chat.text == "a draft typed meanwhile"
        assert "Answer number 2" in texts(main, "ReplyRow")[-1]

        conversation.scroll_home(animate=False)  # a reader back at the start stays there
        await pilot.pause()
        await resize(pilot, (100, 24))
        assert conversation.scroll_y == 0 and conversation.max_scroll_y > 0


async def test_the_restore_toast_names_the_step_once(make_agent, llm) -> None:
    agent = await make_agent()
    llm.queue(say("Hello."), say("Hello again."))
    async with app_for(agent).run_test(size=(80, 24)) as pilot:
        main = await ready(pilot)
        for text in ("hi", "hi again"):
            await type_and_send(pilot, text)
            await idle(pilot)
        before = (await agent.checkpoints())[-2]  # the one before the last reply: no label
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, CheckpointBrowser))
        await wait_until(pilot, lambda: pilot.app.screen.infos)  # type: ignore[attr-defined]
        await pilot.press("down", "r", "y")
        await wait_until(pilot, lambda: pilot.app.screen is main and pilot.app._notifications)
        toast = next(iter(pilot.app._notifications)).message
        assert before.label is None and toast.startswith(f"Restored step {before.step}. ")
        assert toast.count("step") == 1


INFOS = [AgentInfo(name="sam", backend="openai", model="gpt-4o-mini", last_used=None, messages=3, archival=0)]
# Each screen, and what of it must show at every size (selector, rows).
SCREENS: list[tuple[Callable[[], Screen[Any]], list[tuple[str, int]]]] = [
    (lambda: SetupScreen(Settings.load()), [("#setup-title", 1), ("#backend", 3), ("#submit", 1)]),
    (lambda: AgentPicker(INFOS, Settings.load()), [("#agents", 2)]),
    (lambda: CheckpointBrowser(FrozenAgent()), [("#checkpoints", 5), ("#preview", 5)]),  # type: ignore[arg-type]
    (
        lambda: MemoryBrowser(FrozenAgent()),
        [("#recall-query", 3), ("#recall-results", 4), ("#recall-status", 1)],
    ),  # type: ignore[arg-type]
    (lambda: HelpScreen((MainScreen, MemGPTApp)), [("#help", 10)]),
    (ImportModal, [("#import-path", 3), ("#import", 1)]),
]


@pytest.mark.usefixtures("home")
async def test_every_screen_shows_its_parts_at_every_size() -> None:
    app = HostApp()
    async with app.run_test(size=SIZES[0]) as pilot:
        for make, parts in SCREENS:
            screen = make()
            await app.push_screen(screen)
            for size in SIZES:
                await resize(pilot, size)
                for selector, rows in parts:
                    assert_fits(screen.query_one(selector), rows, size)
                if screen.query(Footer):
                    assert_fits(screen.query_one(Footer), 1, size)
            await app.pop_screen()
