"""The TUI attached to a real ``memgpt-tui serve`` (Pilot): every action of the local TUI acts on the
server's agent, what the server does not offer is said, and the server killed and started again is
caught up on without a message twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator
from typing import Any

import pytest
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, OptionList, Static, TabbedContent, TextArea

from memgpt_tui.config import Settings
from memgpt_tui.model import events as ev
from memgpt_tui.remote import home
from memgpt_tui.remote.agent import RemoteAgent
from memgpt_tui.tui.app import MemGPTApp
from memgpt_tui.tui.screens.checkpoints import CheckpointBrowser
from memgpt_tui.tui.screens.help import HelpScreen
from memgpt_tui.tui.screens.importing import ImportModal
from memgpt_tui.tui.screens.main import MainScreen
from memgpt_tui.tui.screens.memory_browser import MemoryBrowser
from memgpt_tui.tui.screens.modals import ConfirmModal, TextEditModal
from memgpt_tui.tui.screens.picker import AgentPicker
from memgpt_tui.tui.widgets.chat_input import ChatInput
from memgpt_tui.tui.widgets.conversation import plain
from memgpt_tui.tui.widgets.core_memory import BlockView
from tests.fakes.openai_server import Reply
from tests.remote.test_remote_agent import until
from tests.server.harness import start
from tests.tui.conftest import idle, main_of, ready, type_and_send
from tests.tui.hosting import SIZE, SMALL, isolate, wait_until
from tests.tui.test_conversation import assert_marked_out_of_context, evicted_from_the_middle


@pytest.fixture(autouse=True)
def _home(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    isolate(monkeypatch, tmp_path / "client-home")


def app_on(served, agent=None) -> MemGPTApp:
    return MemGPTApp(Settings.load(), agent=agent, source=home.Server(served.url, None))


@contextlib.asynccontextmanager
async def attached(
    served, name: str, size: tuple[int, int] = SIZE
) -> AsyncIterator[tuple[RemoteAgent, MemGPTApp, Pilot[Any], MainScreen]]:
    """The TUI on the server's agent ``name``, its main screen up."""
    agent = await home.open_agent(await home.connect(served.url, None), name)
    app = app_on(served, agent)
    try:
        async with app.run_test(size=size) as pilot:
            yield agent, app, pilot, await ready(pilot)
    finally:
        await agent.close()


def lines(pilot: Pilot[Any]) -> str:
    """Every row of the conversation, as plain text."""
    return "\n".join(plain(w) or str(w.render()) for w in main_of(pilot).conversation.children)


async def command(pilot: Pilot[Any], line: str, shows: str) -> None:
    await type_and_send(pilot, line)
    await idle(pilot)
    await wait_until(pilot, lambda: shows in lines(pilot), 10)


async def test_cancel_and_every_history_command(served, fake, agent_name):
    async with attached(served, agent_name) as (agent, app, pilot, main):
        # Esc while the server's model is thinking: the turn is cancelled there, the text comes back.
        fake.script(Reply.tool_call("send_message", {"message": "Too late."}, content="Slow.", delay=5))
        await type_and_send(pilot, "Wait for me")
        await wait_until(pilot, lambda: main.busy)
        await asyncio.sleep(0.3)
        await pilot.press("escape")
        chat = main.query_one(ChatInput)
        await wait_until(pilot, lambda: chat.text == "Wait for me", 10)
        await idle(pilot)
        assert "Too late." not in lines(pilot)
        chat.clear()

        fake.script(Reply.tool_call("send_message", {"message": "First answer."}, content="Think."))
        await type_and_send(pilot, "Tell me")
        await idle(pilot)
        await wait_until(pilot, lambda: "First answer." in lines(pilot), 10)
        fake.script(Reply.tool_call("send_message", {"message": "Second answer."}, content="Again."))
        await command(pilot, "/retry", "Second answer.")
        await command(pilot, "/rethink Thought over.", "Inner monologue replaced.")
        await command(pilot, "/rewrite Rewritten answer.", "Reply rewritten.")
        await wait_until(pilot, lambda: "Rewritten answer." in lines(pilot), 10)
        assert "Thought over." in json.dumps([m.content for m in agent.snapshot().in_context])
        fake.script(Reply.tool_call("send_message", {"message": "Awake."}, content="Beat."))
        await command(pilot, "/heartbeat", "Awake.")
        fake.script(Reply.tool_call("send_message", {"message": "Noted the warning."}, content="Hm."))
        await command(pilot, "/memorywarning", "Noted the warning.")
        await command(pilot, "/pop 2", "Removed 2 messages.")
        assert "Noted the warning." not in json.dumps([m.content for m in agent.snapshot().in_context])
        fake.script(Reply.text("A summary of the talk."))
        await command(pilot, "/summarize", "ummaris")

        # What the server does not offer: in the help, and the command says why.
        await command(pilot, "/attach notes", "data sources are attached on the server's machine")
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        shown = str(app.screen.query_one("#help-unavailable").render())
        assert "/attach" in shown and "/heartbeat" not in shown
        await pilot.press("escape")
        await idle(pilot)
        assert str(main.status.render()).startswith("Not on this server: /attach (F1)")


@pytest.mark.parametrize("name", ["bar", "a-rather-long-agent-name"])
async def test_the_top_bar_fits_a_default_terminal(served, name):
    """What the server does not offer is said under the conversation, not in the top bar; the server's
    address comes before the model, so a long name cuts the model, not the address."""
    with served.http() as http:
        assert http.post("/v1/agents/", json={"name": name}).status_code == 200
    async with attached(served, name, SMALL) as (_, _, _, main):
        top = main.query_one("#topbar", Static)
        shown = top.render()
        assert isinstance(shown, Content) and "(F1:" not in shown.plain
        assert shown.plain.index(f"on {served.url}") + len(f"on {served.url}") <= top.content_size.width
        assert shown.plain.endswith(":fake-model")


async def test_memory_edits_search_and_checkpoints(served, fake, agent_name, tmp_path):
    async with attached(served, agent_name) as (agent, app, pilot, main):
        fake.script(Reply.tool_call("send_message", {"message": "Jasmine it is."}, content="Tea."))
        await type_and_send(pilot, "I drink jasmine tea")
        await idle(pilot)
        # A block edited in the core memory pane.
        block = next(v for v in main.memory.query(BlockView) if v.label == "human")
        await pilot.click(block)
        await wait_until(pilot, lambda: block.editor is not None)
        block.editor.load_text("Bo, who likes jasmine.")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: agent.snapshot().memory()["human"] == "Bo, who likes jasmine.", 10)

        # The memory browser: add, search, edit and delete archival; search recall.
        await pilot.press("ctrl+l")
        browser = MemoryBrowser(agent, tab="archival")
        await app.push_screen(browser)
        await wait_until(pilot, lambda: bool(browser.query("#archival-pane")))
        archival = browser.pane("archival")
        await wait_until(
            pilot, lambda: str(archival.query_one(".status").render()) not in ("", "Searching…"), 10
        )
        await pilot.click("#archival-add")
        await wait_until(pilot, lambda: isinstance(app.screen, TextEditModal))
        app.screen.query_one(TextArea).load_text("The kettle is blue.")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: ("information", "Added to archival memory.") in app_notes(app))
        archival.query_one(Input).value = "kettle"
        archival.query_one(Input).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: archival.selected is not None and "kettle" in archival.selected.text)
        await pilot.click("#archival-edit")
        await wait_until(pilot, lambda: isinstance(app.screen, TextEditModal))
        app.screen.query_one(TextArea).load_text("The kettle is green.")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: ("information", "Archival memory updated.") in app_notes(app))
        assert [p.text for p in (await agent.list_archival()).items] == ["The kettle is green."]
        await pilot.click("#archival-delete")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: ("information", "Archival memory deleted.") in app_notes(app))
        assert (await agent.list_archival()).total == 0
        browser.query_one(TabbedContent).active = "recall"
        recall = browser.pane("recall")
        recall.query_one(Input).value = "jasmine"
        recall.query_one(Input).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: any("jasmine" in (m.user_text() or "") for m in recall.items), 10)
        await pilot.press("escape")

        # Restore the checkpoint before the edit, then undo the restore.
        await wait_until(pilot, lambda: app.screen is main)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(app.screen, CheckpointBrowser))
        options = app.screen.query_one(OptionList)
        await wait_until(pilot, lambda: options.option_count >= 2)
        before_edit = 1 + next(i for i, c in enumerate(app.screen.infos) if c.summary == "user edited human")
        options.highlighted = before_edit
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: agent.snapshot().memory()["human"] == "Bo", 10)
        await wait_until(pilot, lambda: app.screen is main)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(app.screen, CheckpointBrowser))
        await wait_until(pilot, lambda: app.screen.query_one(OptionList).option_count >= 3)
        await pilot.press("u")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: agent.snapshot().memory()["human"] == "Bo, who likes jasmine.", 10)

        # Export: the server writes it, it is saved here.
        await wait_until(pilot, lambda: app.screen is main)
        target = tmp_path / "talk.af"
        await command(pilot, f"/export {target}", "Exported the conversation")
        assert json.loads(target.read_text())


def app_notes(app: MemGPTApp) -> list[tuple[str, str]]:
    return [(n.severity, n.message) for n in app._notifications]


async def test_the_picker_imports_and_deletes_on_the_server(served, fake, agent_name, tmp_path):
    agent = await home.open_agent(await home.connect(served.url, None), agent_name)
    exported = tmp_path / "copy.zip"
    from memgpt_tui import commands

    await commands.write_export(agent, exported, None)
    await agent.close()

    app = app_on(served)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, AgentPicker), 15)
        picker = app.screen
        await pilot.press("i")
        await wait_until(pilot, lambda: isinstance(app.screen, ImportModal))
        app.screen.query_one("#import-path", Input).value = str(exported)
        app.screen.query_one("#import-name", Input).value = "imported_copy"
        await pilot.click("#import")
        await wait_until(
            pilot,
            lambda: "Imported 'imported_copy'" in str(app.screen.query_one("#import-result").render()),
            30,
        )
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is picker)
        table = picker.query_one(DataTable)
        assert table.get_row("imported_copy")
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: "imported_copy" not in [i.name for i in picker.infos], 15)
    with served.http() as http:
        names = [a["name"] for a in http.get("/v1/x-memgpt/agents").json()]
    assert agent_name in names and "imported_copy" not in names


async def test_steps_evicted_mid_turn_are_marked_out_of_context(served, fake, agent_name):
    """The earlier steps of a turn whose question stayed in the window are marked as on a local agent."""
    agent = await home.open_agent(await home.connect(served.url, None), agent_name)
    try:
        await agent.insert_archival(" ".join(f"fact{i}" for i in range(300)))
        search = Reply.tool_call("archival_memory_search", {"query": "facts", "request_heartbeat": True})
        fake.script(search, search, search, Reply.tool_call("send_message", {"message": "I know them."}))
        await agent.send("Which facts do you know?")
        fake.script(Reply.text("A summary of the search."))
        await agent.summarize_now()  # the question stays in view; the turn's first searches leave it
        window = agent.snapshot().in_context
        evicted = evicted_from_the_middle(window, await agent.older_messages(None, 60))
        assert evicted
    finally:
        await agent.close()
    async with attached(served, agent_name, SMALL) as (_, _, _, main):
        assert_marked_out_of_context(main.conversation, window, evicted)


async def test_the_server_killed_and_started_again(served, fake, agent_name):
    """Last in this module: it kills the shared server and starts it again on its port."""
    async with attached(served, agent_name) as (agent, app, pilot, main):
        seen: list[ev.Event] = []
        agent.subscribe(seen.append)
        fake.script(Reply.tool_call("send_message", {"message": "Before the fall."}, content="A."))
        await type_and_send(pilot, "Hello once")
        await idle(pilot)
        await wait_until(pilot, lambda: "Before the fall." in lines(pilot), 10)

        served.stop(signal.SIGKILL)
        await wait_until(
            pilot, lambda: "Server unreachable" in lines(pilot) and "retrying" in lines(pilot), 10
        )
        # What is typed meanwhile is not lost: it stays in the input.
        await type_and_send(pilot, "Anyone there?")
        chat = main.query_one(ChatInput)
        await wait_until(pilot, lambda: "is unreachable" in lines(pilot), 10)
        await idle(pilot)
        assert chat.text == "Anyone there?"
        # Started again, and another client talks to the agent, before this one is back: the
        # loop that would reconnect it is held meanwhile (both calls block).
        fake.script(Reply.tool_call("send_message", {"message": "Said while you were away."}, content="B."))
        served.process = start(served.home, fake, port=served.port).process
        with served.http() as http:
            answer = http.post(f"/v1/x-memgpt/agents/{agent.id}/messages", json={"text": "From elsewhere"})
            assert answer.status_code == 200, answer.text
        caught = await until(seen, ev.CaughtUp, timeout=20)
        assert [m.user_text() for m in caught.messages if m.kind == "user_message"] == ["From elsewhere"]
        await wait_until(pilot, lambda: "Said while you were away." in lines(pilot), 10)
        await wait_until(pilot, lambda: "Reconnected to the server." in lines(pilot), 10)
        shown = lines(pilot)
        assert shown.count("Said while you were away.") == 1 and shown.count("From elsewhere") == 1
        assert shown.count("Before the fall.") == 1 and shown.count("Hello once") == 1
        ids = [m.id for m in agent.snapshot().in_context]
        assert len(ids) == len(set(ids))
