"""Every slash command typed in the input reaches memgpt_tui.commands.run and shows its result."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from memgpt_tui.tui.palette import AgentCommands
from memgpt_tui.tui.screens.checkpoints import CheckpointBrowser
from memgpt_tui.tui.screens.help import HelpScreen
from memgpt_tui.tui.screens.main import MainScreen
from memgpt_tui.tui.widgets.rows import ErrorRow, ReplyRow, SystemRow, ThoughtRow
from tests.fakes.scripted_llm import say
from tests.tui.conftest import app_for, idle, ready, type_and_send
from tests.tui.hosting import wait_until


def outputs(main: MainScreen) -> list[str]:
    return [str(r.render()) for r in main.conversation.query(SystemRow) if r.kind == "output"]


def errors(main: MainScreen) -> list[str]:
    return [str(r.render()) for r in main.conversation.query(ErrorRow)]


async def command(pilot: Pilot[Any], line: str) -> MainScreen:
    main = pilot.app.screen
    assert isinstance(main, MainScreen)
    await type_and_send(pilot, line)
    await idle(pilot)
    return main


async def test_read_only_commands_show_their_output(make_agent) -> None:
    agent = await make_agent()
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await command(pilot, "/memory")
        assert "[human] 17/2000 chars" in outputs(main)[-1]
        await command(pilot, "/tokens")
        assert "total" in outputs(main)[-1] and "messages" in outputs(main)[-1]
        await command(pilot, "/dump 1")
        assert "user/login" in outputs(main)[-1]
        echoes = [str(r.render()) for r in main.conversation.query(SystemRow) if r.kind == "command"]
        assert echoes[-1] == "❯ /dump 1"


async def test_save_load_and_help_open_what_they_name(make_agent) -> None:
    agent = await make_agent()
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await command(pilot, "/save before-tea")
        assert "Saved checkpoint 'before-tea'" in outputs(main)[-1]
        assert (await agent.checkpoints())[-1].label == "before-tea"
        await type_and_send(pilot, "/load")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, CheckpointBrowser))
        pilot.app.screen.dismiss(None)
        await wait_until(pilot, lambda: pilot.app.screen is main)
        await type_and_send(pilot, "/help")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))
        shown = str(pilot.app.screen.query_one("#help-commands").render())
        assert "/rethink <text>" in shown and "/attach <source>" in shown
        keys = str(pilot.app.screen.query_one("#help-keys").render())
        assert "Cancel step" in keys and "Checkpoints" in keys
        await pilot.press("escape")
        await wait_until(pilot, lambda: pilot.app.screen is main)


async def test_step_commands_run_steps(make_agent, llm) -> None:
    agent = await make_agent()
    llm.queue(say("Still here."), say("Saving what matters."))
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await command(pilot, "/heartbeat")
        assert main.conversation.query(ReplyRow).last().text == "Still here."
        assert any(r.kind == "heartbeat" for r in main.conversation.query(SystemRow))
        await command(pilot, "/memorywarning")
        assert main.conversation.query(ReplyRow).last().text == "Saving what matters."
        assert any("Memory-pressure warning" in str(r.render()) for r in main.conversation.query(SystemRow))
        await command(pilot, "/summarize")
        assert "Summarised" in outputs(main)[-1] or "Nothing to summarise" in outputs(main)[-1]


async def test_history_commands_rewrite_the_view(make_agent, llm) -> None:
    agent = await make_agent()
    llm.queue(say("First answer.", thought="Hmm."), say("Second answer."))
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await type_and_send(pilot, "a question")
        await idle(pilot)
        await command(pilot, "/retry")
        assert [r.text for r in main.conversation.query(ReplyRow)][-1] == "Second answer."
        assert "First answer." not in [r.text for r in main.conversation.query(ReplyRow)]
        await command(pilot, "/rewrite Better answer.")
        await wait_until(pilot, lambda: main.conversation.query(ReplyRow).last().text == "Better answer.")
        assert "Reply rewritten." in outputs(main)[-1]
        await command(pilot, "/rethink A sharper thought.")
        await wait_until(
            pilot, lambda: main.conversation.query(ThoughtRow).last().text == "A sharper thought."
        )
        before = len(agent.buffer)
        await command(pilot, "/pop 3")
        assert len(agent.buffer) == before - 3
        assert "Removed 3 messages." in outputs(main)[-1]
        assert "a question" not in [r.text for r in main.conversation.query("UserRow")]


async def test_bad_commands_and_attach_errors_are_shown(make_agent) -> None:
    agent = await make_agent()
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await command(pilot, "/frobnicate")
        assert "Unknown command /frobnicate" in errors(main)[-1]
        await command(pilot, "/rethink")
        assert "Usage: /rethink <text>" in errors(main)[-1]
        await command(pilot, "/attach no-such-source")
        assert "no-such-source" in errors(main)[-1]
        assert "Unexpected" not in errors(main)[-1]


async def test_exit_quits(make_agent) -> None:
    agent = await make_agent()
    app = app_for(agent)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await type_and_send(pilot, "/exit")
        await wait_until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0
    assert agent.store is not None  # the caller's agent is left for the caller to close


async def test_palette_offers_every_command_and_screen(make_agent) -> None:
    from memgpt_tui.commands import COMMANDS

    agent = await make_agent()
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        provider = AgentCommands(main)
        titles = [hit.text or "" async for hit in provider.discover()]
        for c in COMMANDS:
            assert any(t.startswith(c.name) for t in titles), c.name
        assert {"Search memory", "Checkpoints", "Edit core memory", "Help"} <= set(titles)
        assert "Theme" in [c.title for c in pilot.app.get_system_commands(main)]
        hits = [hit async for hit in provider.search("tokens")]
        assert hits and hits[0].text == "/tokens"
        await hits[0].command()
        await idle(pilot)
        assert "total" in outputs(main)[-1]
        rethink = [hit async for hit in provider.search("rethink")][0]
        rethink.command()
        assert main.query_one("ChatInput").text == "/rethink "
