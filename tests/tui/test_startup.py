"""Startup: --agent opens or creates (and greets), the picker or setup otherwise, clear failures."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets import Button, Input

from memgpt_tui import runtime
from memgpt_tui.config import Settings
from memgpt_tui.model.errors import AgentLocked, ServerError
from memgpt_tui.remote.connection import Connection
from memgpt_tui.tui.app import MemGPTApp
from memgpt_tui.tui.screens.failure import FailureScreen
from memgpt_tui.tui.screens.main import MainScreen
from memgpt_tui.tui.screens.picker import AgentPicker
from memgpt_tui.tui.screens.setup import SetupScreen
from memgpt_tui.tui.widgets.rows import ReplyRow
from tests.fakes.openai_server import FakeOpenAIServer, Reply, unused_port
from tests.tui.conftest import ready, type_and_send
from tests.tui.hosting import SMALL, HostApp, wait_until


def settings_for(server: FakeOpenAIServer, **kw: object) -> Settings:
    return Settings.load(
        backend="openai-compatible", base_url=server.base_url, model="fake", no_verify=True, **kw
    )


def setup_ready(screen: object) -> bool:
    """The setup screen is composed and has proposed a free agent name."""
    names = list(screen.query("#name").results(Input)) if isinstance(screen, SetupScreen) else []
    return bool(names and names[0].value)


async def test_agent_flag_creates_the_agent_and_it_greets(home: Path, openai_fake: FakeOpenAIServer) -> None:
    openai_fake.script(Reply.tool_call("send_message", {"message": "Hello, I'm new here."}, content="Greet."))
    app = MemGPTApp(settings_for(openai_fake, agent="fresh"))
    async with app.run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        assert main.agent.name == "fresh"
        await wait_until(
            pilot, lambda: main.conversation.query(ReplyRow).last().text == "Hello, I'm new here."
        )
        await pilot.press("ctrl+q")
    assert app.agent is None, "the app closes the agent it opened"
    assert [i.name for i in runtime.agent_infos(Settings.load())] == ["fresh"]


async def test_first_flag_skips_the_greeting(home: Path, openai_fake: FakeOpenAIServer) -> None:
    app = MemGPTApp(settings_for(openai_fake, agent="quiet"), first=True)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await pilot.pause(0.2)
        assert not main.busy and not openai_fake.chat_requests
        await pilot.press("ctrl+q")


async def test_without_agents_setup_opens_and_quitting_it_exits(home: Path) -> None:
    app = MemGPTApp(Settings.load())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: setup_ready(pilot.app.screen), timeout=10)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0


async def test_picker_opens_the_chosen_agent(home: Path, openai_fake: FakeOpenAIServer) -> None:
    settings = settings_for(openai_fake)
    agent = await runtime.create_agent(settings, "picked")
    await agent.close()
    app = MemGPTApp(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, AgentPicker), timeout=10)
        pilot.app.screen.dismiss("picked")
        main = await ready(pilot)
        assert isinstance(main, MainScreen) and main.agent.name == "picked"
        await pilot.press("ctrl+q")


@pytest.mark.parametrize("previewed", [False, True], ids=["opening", "previewed"])
async def test_a_locked_agent_shows_the_way_forward(
    home: Path, openai_fake: FakeOpenAIServer, previewed: bool
) -> None:
    settings = settings_for(openai_fake, agent="busy")
    if previewed:  # closed once (leaving its preview), then opened by another process
        await (await runtime.create_agent(settings, "busy")).close()
        holder = await runtime.open_agent(settings, "busy")
    else:
        holder = await runtime.create_agent(settings, "busy")
    try:
        app = MemGPTApp(settings)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: isinstance(pilot.app.screen, FailureScreen), timeout=10)
            screen = pilot.app.screen
            assert screen.title_text == "Agent in use"
            assert "open in another memgpt-tui" in screen.message and "try again" in screen.message
            await pilot.press("q")
            await wait_until(pilot, lambda: app.return_code is not None)
    finally:
        await holder.close()


async def test_a_closed_agent_is_shown_from_its_preview_while_it_opens(
    home: Path, openai_fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(openai_fake, agent="back")
    agent = await runtime.create_agent(settings, "back")
    await agent.close()  # leaves the preview
    gate = asyncio.Event()
    open_previewed = runtime.open_previewed

    async def gated(agent: object, settings: Settings) -> None:
        await gate.wait()
        await open_previewed(agent, settings)  # type: ignore[arg-type]

    monkeypatch.setattr(runtime, "open_previewed", gated)
    openai_fake.script(Reply.tool_call("send_message", {"message": "Welcome back."}, content="Greet."))
    app = MemGPTApp(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        assert not main.agent.is_open
        assert "Opening memory and model" in str(main.status.render())
        await type_and_send(pilot, "I am back")
        await pilot.pause(0.2)
        assert not openai_fake.chat_requests, "the step waits for the store"
        gate.set()
        await wait_until(pilot, lambda: main.conversation.query(ReplyRow).last().text == "Welcome back.")
        await pilot.press("ctrl+q")
    assert app.agent is None


async def test_configuration_errors_are_shown_not_raised(home: Path) -> None:
    app = MemGPTApp(Settings.load(agent="nourl", backend="openai-compatible", model="m"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, FailureScreen), timeout=10)
        assert pilot.app.screen.title_text == "Configuration needs a fix"
        assert "--base-url" in pilot.app.screen.message
        await pilot.press("q")


def test_every_opening_failure_gets_a_title_and_keeps_its_advice() -> None:
    from memgpt_tui.config import ConfigError
    from memgpt_tui.model.errors import (
        AgentError,
        AgentLocked,
        BackendUnavailable,
        EmbeddingMismatch,
        StoreError,
    )
    from memgpt_tui.tui.screens.failure import describe

    cases = {
        AgentLocked("locked: close it there"): "Agent in use",
        EmbeddingMismatch("made with e5; use e5 again"): "Embedding model mismatch",
        StoreError("corrupt: restore a checkpoint"): "Cannot open the agent's memory",
        ConfigError("bad TOML: fix line 3"): "Configuration needs a fix",
        BackendUnavailable("no server", hint="start it"): "The model backend failed",
        AgentError("no saved state"): "Cannot load the agent",
        RuntimeError("boom"): "Unexpected error",
    }
    for exc, title in cases.items():
        got_title, message = describe(exc)
        assert got_title == title
        assert str(exc) in message
    assert "start it" in describe(BackendUnavailable("no server", hint="start it"))[1]
    assert "memgpt-tui.log" in describe(RuntimeError("boom"))[1]


async def offered(failure: BaseException) -> list[str]:
    """The buttons the failure screen shows for ``failure``."""
    app = HostApp(lambda: FailureScreen(failure))
    async with app.run_test(size=SMALL) as pilot:
        await wait_until(pilot, lambda: bool(app.screen.query("#quit")), timeout=10)  # composed last
        return [str(button.label) for button in app.screen.query(Button)]


async def refused_connection() -> ServerError:
    """What attaching to an address where no server listens raises."""
    connection = Connection(f"http://127.0.0.1:{unused_port()}")
    try:
        with pytest.raises(ServerError) as refused:
            await connection.check()
    finally:
        await connection.aclose()
    return refused.value


async def test_another_agent_is_offered_unless_the_server_cannot_list_any() -> None:
    """Attached, the list of agents helps when the server has no such agent, not when the server is out
    of reach or refuses the token (listing would fail the same way); for an agent here, it always helps."""
    everything = ["Try again", "Choose another agent", "Quit"]
    url = "http://127.0.0.1:8283"
    assert await offered(ServerError(f"No agent named 'sam' on {url} (its agents: bo).", 404)) == everything
    assert await offered(await refused_connection()) == ["Try again", "Quit"]
    refused_token = ServerError(f"The server at {url} refused the token: check --token.", 401)
    assert await offered(refused_token) == ["Try again", "Quit"]
    assert await offered(AgentLocked("sam is open in another memgpt-tui.")) == everything
