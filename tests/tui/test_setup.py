from __future__ import annotations

import asyncio
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.widgets import Input, Select, Static

from memgpt_tui.config import Settings, config_path
from memgpt_tui.runtime import AgentInfo
from memgpt_tui.tui.screens.setup import SetupScreen
from tests.fakes.openai_server import FakeOpenAIServer
from tests.tui.hosting import SIZE, SNAPSHOT_SIZES, HostApp, still, wait_until

pytestmark = pytest.mark.usefixtures("home")


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[AgentInfo]:
    """Existing agents as the runtime reports them."""
    infos = [
        AgentInfo(
            name="sam", backend="embedded", model="gemma-3-270m", last_used=None, messages=3, archival=0
        )
    ]
    monkeypatch.setattr("memgpt_tui.runtime.agent_infos", lambda settings: infos)
    return infos


def host(settings: Settings | None = None) -> HostApp:
    return HostApp(lambda: SetupScreen(settings or Settings.load()))


def screen(app: HostApp) -> SetupScreen:
    assert isinstance(app.screen, SetupScreen)
    return app.screen


def set_input(app: HostApp, field: str, value: str) -> None:
    screen(app).query_one(f"#{field}", Input).value = value


def error(app: HostApp, field: str) -> str:
    widget = screen(app).query_one(f"#{field}-error", Static)
    return str(widget.render()) if widget.parent and widget.parent.has_class("-invalid") else ""


async def ready(pilot) -> SetupScreen:  # type: ignore[no-untyped-def]
    """The screen is up and the existing agents are known (the name field gets a free default)."""
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, SetupScreen))
    await wait_until(pilot, lambda: screen(pilot.app).query_one("#name", Input).value)
    return screen(pilot.app)


async def test_defaults_embedded_hides_remote_fields(taken: list[AgentInfo]) -> None:
    app = host()
    async with app.run_test(size=SIZE) as pilot:
        s = await ready(pilot)
        assert s.query_one("#backend", Select).value == "embedded"
        assert s.query_one("#name", Input).value == "agent_1"
        for field in (
            "base-url-field",
            "api-key-field",
            "function-calling-field",
            "connection-row",
            "model-field",
        ):
            assert not s.query_one(f"#{field}").display
        s.query_one("#backend", Select).value = "openai-compatible"
        await pilot.pause()
        for field in (
            "base-url-field",
            "api-key-field",
            "function-calling-field",
            "connection-row",
            "model-field",
        ):
            assert s.query_one(f"#{field}").display
        assert s.query_one("#api-key", Input).password
        s.query_one("#backend", Select).value = "openai"
        await pilot.pause()
        assert not s.query_one("#function-calling-field").display


async def test_validation_errors_are_shown_next_to_the_fields(taken: list[AgentInfo]) -> None:
    app = host()
    async with app.run_test(size=SIZE) as pilot:
        s = await ready(pilot)
        s.query_one("#backend", Select).value = "openai-compatible"
        set_input(app, "name", "")
        set_input(app, "context-window", "0")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: error(app, "name"))
        assert "name" in error(app, "name")
        assert "URL is required" in error(app, "base-url")
        assert "model" in error(app, "model")
        assert "positive" in error(app, "context-window")
        assert s.focused is s.query_one("#model", Input)  # the first field in error

        set_input(app, "name", "sam")
        set_input(app, "base-url", "localhost:11434")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "already exists" in error(app, "name"))
        assert "Not a URL" in error(app, "base-url")

        set_input(app, "name", "bad name!")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "letters, digits" in error(app, "name"))

        s.query_one("#backend", Select).value = "openai"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "API key" in error(app, "api-key"))
    assert app.results == []
    assert not config_path().exists()


async def test_openai_key_may_come_from_the_environment(
    taken: list[AgentInfo], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    app = host()
    async with app.run_test(size=SIZE) as pilot:
        s = await ready(pilot)
        s.query_one("#backend", Select).value = "openai"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.results)
    assert app.results[0].backend == "openai"
    assert app.results[0].api_key is None


async def test_submit_saves_defaults_and_dismisses_with_settings(taken: list[AgentInfo]) -> None:
    config_path().parent.mkdir(parents=True, exist_ok=True)
    config_path().write_text('theme = "memgpt-light"\nmodel = "old-model"\n')
    app = host(Settings.load())
    async with app.run_test(size=SIZE) as pilot:
        s = await ready(pilot)
        s.query_one("#backend", Select).value = "openai-compatible"
        await pilot.pause()
        await pilot.click("#name")
        await pilot.press("ctrl+a", "ctrl+k", *"my-agent")  # typed, as a person would
        set_input(app, "model", "llama3.1")
        set_input(app, "base-url", "http://localhost:11434/v1")
        set_input(app, "api-key", "sk-local")
        set_input(app, "context-window", "16384")
        s.query_one("#function-calling", Select).value = "json"
        s.query_one("#persona", Select).value = "memgpt_starter"
        s.query_one("#human", Select).value = "cs_phd"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.results)
    result = app.results[0]
    assert isinstance(result, Settings)
    assert (result.agent, result.backend, result.model) == ("my-agent", "openai-compatible", "llama3.1")
    assert (result.base_url, result.function_calling, result.context_window) == (
        "http://localhost:11434/v1",
        "json",
        16384,
    )
    assert result.api_key is not None and result.api_key.get_secret_value() == "sk-local"
    assert (result.persona, result.human, result.theme) == ("memgpt_starter", "cs_phd", "memgpt-light")

    assert config_path().stat().st_mode & 0o777 == 0o600
    saved = tomllib.loads(config_path().read_text())
    assert saved == {
        "backend": "openai-compatible",
        "model": "llama3.1",
        "base_url": "http://localhost:11434/v1",
        "api_key": "sk-local",
        "function_calling": "json",
        "context_window": 16384,
        "persona": "memgpt_starter",
        "human": "cs_phd",
        "theme": "memgpt-light",
    }
    assert Settings.load().resolved_backend() == "openai-compatible"


async def test_embedded_choice_clears_remote_settings(taken: list[AgentInfo]) -> None:
    config_path().parent.mkdir(parents=True, exist_ok=True)
    config_path().write_text('backend = "openai"\nmodel = "gpt-4o"\napi_key = "sk-old"\n')
    app = host()
    async with app.run_test(size=SIZE) as pilot:
        s = await ready(pilot)
        s.query_one("#backend", Select).value = "embedded"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.results)
    assert app.results[0].backend == "embedded" and app.results[0].model is None
    saved = tomllib.loads(config_path().read_text())
    assert saved == {"backend": "embedded"}


async def test_escape_dismisses_none(taken: list[AgentInfo]) -> None:
    app = host()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.results)
    assert app.results == [None]
    assert not config_path().exists()


async def test_persona_select_previews_and_follows_the_persona_dirs(
    home: Path, taken: list[AgentInfo]
) -> None:
    app = host()
    async with app.run_test(size=SIZE) as pilot:
        s = await ready(pilot)
        preview = s.query_one("#persona-preview", Static)
        assert "Sam" in str(preview.render())
        (home / "personas").mkdir(exist_ok=True)
        (home / "personas" / "pirate.txt").write_text("I am a pirate who remembers every port.")

        def offered() -> bool:
            try:
                s.query_one("#persona", Select).value = "pirate"
            except Exception:
                return False
            return True

        await wait_until(pilot, offered)
        await wait_until(pilot, lambda: "pirate who remembers" in str(preview.render()))
        (home / "personas" / "pirate.txt").write_text("I am a retired pirate.")
        await wait_until(pilot, lambda: "retired pirate" in str(preview.render()))
        assert s.query_one("#persona", Select).value == "pirate"


# ------------------------------------------------------------------ test connection


async def test_connection_lists_models(openai_fake: FakeOpenAIServer, taken: list[AgentInfo]) -> None:
    app = host()
    async with app.run_test(size=SIZE) as pilot:
        s = await ready(pilot)
        s.query_one("#backend", Select).value = "openai-compatible"
        set_input(app, "base-url", openai_fake.base_url)
        await pilot.pause()
        await pilot.click("#test-connection")
        status = s.query_one("#connection-status", Static)
        await wait_until(pilot, lambda: "Connected" in str(status.render()))
        assert "fake-model" in str(status.render())
        assert s.query_one("#model", Input).value == "fake-model"  # an empty model takes the first


async def test_connection_reports_a_refused_key(
    openai_fake: FakeOpenAIServer, taken: list[AgentInfo]
) -> None:
    openai_fake.require_key = "sk-right"
    app = host()
    async with app.run_test(size=SIZE) as pilot:
        s = await ready(pilot)
        s.query_one("#backend", Select).value = "openai-compatible"
        set_input(app, "base-url", openai_fake.base_url)
        set_input(app, "api-key", "sk-wrong")
        await pilot.pause()
        await pilot.click("#test-connection")
        status = s.query_one("#connection-status", Static)
        await wait_until(pilot, lambda: "Not connected" in str(status.render()))
        assert "refused the API key (401)" in str(status.render())
        assert status.has_class("-failed")


async def test_connection_reports_a_refused_connection(taken: list[AgentInfo]) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()  # nothing listens on the port any more
    app = host()
    async with app.run_test(size=SIZE) as pilot:
        s = await ready(pilot)
        s.query_one("#backend", Select).value = "openai-compatible"
        set_input(app, "base-url", f"http://127.0.0.1:{port}/v1")
        await pilot.pause()
        await pilot.click("#test-connection")
        status = s.query_one("#connection-status", Static)
        await wait_until(pilot, lambda: "Not connected" in str(status.render()))
        assert "Cannot connect" in str(status.render())


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """Accepts connections and never answers."""
    writers = []

    def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in writers:
        writer.close()
    server.close()


async def test_connection_reports_a_timeout(silent_server: int, taken: list[AgentInfo]) -> None:
    app = host()
    async with app.run_test(size=SIZE) as pilot:
        s = await ready(pilot)
        s.CONNECTION_TIMEOUT = 0.5
        s.query_one("#backend", Select).value = "openai-compatible"
        set_input(app, "base-url", f"http://127.0.0.1:{silent_server}/v1")
        await pilot.pause()
        await pilot.click("#test-connection")
        status = s.query_one("#connection-status", Static)
        await wait_until(pilot, lambda: "Not connected" in str(status.render()))
        assert "in time" in str(status.render())


# ------------------------------------------------------------------------ snapshot


@SNAPSHOT_SIZES
def test_snapshot_setup_screen(snap_compare, taken: list[AgentInfo], size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    settings = Settings.load(
        backend="openai-compatible", base_url="http://localhost:11434/v1", model="llama3.1"
    )

    async def prepare(pilot) -> None:  # type: ignore[no-untyped-def]
        await ready(pilot)
        set_input(pilot.app, "name", "")
        await pilot.press("ctrl+s")  # shows the name error
        await wait_until(pilot, lambda: error(pilot.app, "name"))
        await pilot.wait_for_scheduled_animations()  # the stacked form scrolls to the field in error
        await pilot.pause()
        still(pilot)

    assert snap_compare(host(settings), terminal_size=size, run_before=prepare)


async def test_a_memgpt_type_takes_the_servers_root_and_names_its_model(
    openai_fake: FakeOpenAIServer, taken: list[AgentInfo]
) -> None:
    app = host()
    async with app.run_test(size=SIZE) as pilot:
        s = await ready(pilot)
        s.query_one("#backend", Select).value = "vllm"
        await pilot.pause()
        assert s.query_one("#base-url", Input).placeholder == "default: http://localhost:8000"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: error(app, "model"))  # vLLM answers only for the model it serves
        s.query_one("#backend", Select).value = "ollama"
        set_input(app, "base-url", openai_fake.root_url)  # the root, as MemGPT took it
        await pilot.pause()
        await pilot.click("#test-connection")
        status = s.query_one("#connection-status", Static)
        await wait_until(pilot, lambda: "Connected" in str(status.render()))
        assert s.query_one("#model", Input).value == "fake-model"
