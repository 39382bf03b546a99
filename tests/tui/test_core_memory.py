"""The core memory pane: inline edits (cancel, save, over limit) and the agent's edits flashing."""

from __future__ import annotations

from textual.widgets import TextArea

from memgpt_tui.tui.screens.diff import DiffScreen
from memgpt_tui.tui.widgets.core_memory import BlockView, CoreMemoryPane
from tests.fakes.scripted_llm import call, say
from tests.tui.conftest import app_for, idle, ready, type_and_send
from tests.tui.hosting import wait_until


def block(main, label: str) -> BlockView:  # type: ignore[no-untyped-def]
    view = main.query_one(CoreMemoryPane).view(label)
    assert view is not None
    return view


async def test_every_block_shows_label_usage_and_text(make_agent) -> None:
    agent = await make_agent()
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        views = list(main.query(BlockView))
        assert [v.label for v in views] == ["persona", "human"]
        header = str(views[1].query_one(".block-header").render())
        assert "human" in header and "17/2000" in header
        assert "The user is Chad." in str(views[1].query_one(".block-body").render())


async def test_edit_then_escape_restores_the_block(make_agent) -> None:
    agent = await make_agent()
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        view = block(main, "human")
        view.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: view.editor is not None and view.editor.has_focus)
        await pilot.press("end", *" Likes tea.")
        assert view.editor is not None and view.editor.text.endswith("Likes tea.")
        await pilot.press("escape")
        await wait_until(pilot, lambda: view.editor is None)
        assert not view.query(TextArea)
        assert agent.state.block("human").value == "The user is Chad."
        assert "The user is Chad." in str(view.query_one(".block-body").render())
        assert not main.busy  # Esc cancelled the edit, not a step


async def test_ctrl_s_saves_the_edit(make_agent) -> None:
    agent = await make_agent()
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        view = block(main, "human")
        await pilot.click(view)
        await wait_until(pilot, lambda: view.editor is not None)
        view.editor.load_text("The user is Chad. Likes tea.")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: view.editor is None)
        assert agent.state.block("human").value == "The user is Chad. Likes tea."
        assert "28/2000" in str(view.query_one(".block-header").render())
        checkpoints = await agent.checkpoints()
        assert checkpoints[-1].summary == "user edited human"


async def test_over_limit_edit_is_refused_and_kept(make_agent) -> None:
    agent = await make_agent()
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        view = block(main, "persona")
        view.focus()
        await pilot.press("e")
        await wait_until(pilot, lambda: view.editor is not None)
        too_long = "x" * 2100
        view.editor.load_text(too_long)
        await pilot.pause()
        assert view.has_class("-over")
        await pilot.press("ctrl+s")
        status = view.query_one(".block-status")
        await wait_until(pilot, lambda: status.has_class("-error"))
        assert "limit is 2000" in str(status.render())
        assert view.editor is not None and view.editor.text == too_long
        assert agent.state.block("persona").value == "I am Sam."


async def test_agent_edit_flashes_and_shows_its_diff(make_agent, llm) -> None:
    agent = await make_agent()
    llm.queue(
        call("core_memory_append", "Remember.", label="human", content="Likes tea.", heartbeat=True),
        say("Noted."),
    )
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        view = block(main, "human")
        await type_and_send(pilot, "I like tea")
        await wait_until(pilot, lambda: view.has_class("-flash"))
        await idle(pilot)
        assert "Likes tea." in str(view.query_one(".block-body").render())
        assert block(main, "persona").has_class("-flash") is False
        view.focus()
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, DiffScreen))
        diff = str(pilot.app.screen.query_one("#diff Static").render())
        assert "+Likes tea." in diff
        await pilot.press("escape")
        await wait_until(pilot, lambda: pilot.app.screen is main)
