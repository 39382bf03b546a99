"""Homes and agents in a bad way: damaged or half-made files, impossible settings, two processes at
once. Each gets a clear message, and nothing of the user's is lost or touched."""

from __future__ import annotations

import asyncio
import stat
import threading

import pytest

from memgpt_tui import runtime
from memgpt_tui.config import ConfigError, Settings, file_values
from memgpt_tui.model.errors import AgentError, StoreError
from memgpt_tui.store import registry
from tests.e2e.test_interfaces import cli
from tests.e2e.test_wire_agent import converse, home, settings_for  # noqa: F401  (fixture)
from tests.fakes.openai_server import Reply
from tests.store.helpers import HashEmbedder


@pytest.mark.parametrize("window", [0, -5, 1, 1024, 2048])
async def test_a_context_window_too_small_for_the_fixed_prompt_is_refused(home, openai_fake, window):  # noqa: F811
    with pytest.raises((ConfigError, AgentError), match="context window|--context-window") as caught:
        await runtime.create_agent(settings_for(openai_fake.base_url, context_window=window), "tiny")
    if window >= 1024:
        assert "cannot hold the fixed prompt" in str(caught.value)
    assert not registry.exists(str(home / "agents"), "tiny")  # nothing half-made is left behind


async def test_an_agent_whose_creation_was_interrupted_is_made_again(home, openai_fake):  # noqa: F811
    """A kill between making the store and its first checkpoint leaves a store without a head."""
    root, settings = str(home / "agents"), settings_for(openai_fake.base_url)
    embedder = runtime.embedder_for(settings)
    registry.create_store(root, "halfway", embedder).close()
    with pytest.raises(ConfigError, match="never fully created"):
        await runtime.open_agent(settings, "halfway", create=False)
    registry.create_store(root, "halfway", embedder).close()
    agent = await runtime.open_agent(settings, "halfway")
    try:
        openai_fake.script(Reply.tool_call("send_message", {"message": "made"}))
        seen = await converse(agent, "hi")
        assert any(getattr(e, "text", None) == "made" for e in seen)
    finally:
        await agent.close()


def test_two_processes_creating_one_agent_leave_the_winners_intact(home):  # noqa: F811
    root = str(home / "agents")
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def create() -> None:
        start.wait()
        try:
            outcomes.append(registry.create_store(root, "race", HashEmbedder()))
        except StoreError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=create) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [winner] = [o for o in outcomes if not isinstance(o, StoreError)]
    [loser] = [o for o in outcomes if isinstance(o, StoreError)]
    assert "already exists" in str(loser)
    winner.close()  # type: ignore[attr-defined]
    registry.open_store(root, "race", HashEmbedder()).close()  # still there, still whole


async def made_tables(settings: Settings, name: str) -> None:
    """Open the agent once more: a new agent's first session stays in its journal, and the next open
    makes its Lance tables."""
    await (await runtime.open_agent(settings, name)).close()


async def test_a_damaged_lance_file_is_reported_and_left_untouched(home, openai_fake):  # noqa: F811
    settings = settings_for(openai_fake.base_url)
    agent = await runtime.create_agent(settings, "hurt")
    await converse(agent, "hello")
    await agent.close()
    await made_tables(settings, "hurt")
    data = sorted((home / "agents" / "hurt" / "messages.lance" / "data").glob("*.lance"))[0]
    data.write_bytes(data.read_bytes()[:10])
    with pytest.raises(StoreError, match="is damaged.*left untouched"):
        await runtime.open_agent(settings, "hurt")
    assert data.stat().st_size == 10


async def test_a_deleted_text_index_is_rebuilt(home, openai_fake):  # noqa: F811
    settings = settings_for(openai_fake.base_url)
    agent = await runtime.create_agent(settings, "indexless")
    openai_fake.script(Reply.tool_call("send_message", {"message": "noted"}))
    await converse(agent, "my boat is called Marlin")
    await agent.close()
    await made_tables(settings, "indexless")
    for index in (home / "agents" / "indexless" / "messages.lance" / "_indices").iterdir():
        for file in index.iterdir():
            file.unlink()
    for _ in range(2):  # rebuilt once, then found as usual
        agent = await runtime.open_agent(settings, "indexless")
        try:
            found = await agent.search_recall("Marlin")
        finally:
            await agent.close()
        assert any("Marlin" in (m.user_text() or "") for m in found.items)


def test_a_config_file_that_is_not_utf8_is_a_config_error(home):  # noqa: F811
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_bytes(b'model = "\xff\xfe"\n')
    with pytest.raises(ConfigError, match="config.toml is not valid TOML"):
        file_values()


async def test_the_data_dir_and_agents_dir_are_private(home, openai_fake):  # noqa: F811
    from memgpt_tui.config import setup_logging

    await asyncio.to_thread(setup_logging, False)
    agent = await runtime.create_agent(settings_for(openai_fake.base_url), "private")
    await agent.close()
    for path in (home, home / "agents", home / "agents" / "private", home / "logs"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path


def test_a_file_where_a_directory_belongs_is_a_clear_message(tmp_path, openai_fake):
    blocked = tmp_path / "home"
    blocked.mkdir()
    (blocked / "agents").write_text("not a directory")
    env = {"MEMGPT_TUI_HOME": str(blocked), "PATH": "/usr/bin:/bin"}
    run = cli(
        env,
        "run",
        "--plain",
        "--agent",
        "x",
        "--backend",
        "openai-compatible",
        "--base-url",
        openai_fake.base_url,
        "--model",
        "fake-model",
        stdin="hi\n",
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "agents" in run.stderr and "Not a directory" in run.stderr


def test_delete_and_export_refuse_an_open_agent_and_a_foreign_directory(home, tmp_path):  # noqa: F811
    root = str(home / "agents")
    store = registry.create_store(root, "busy", HashEmbedder())
    foreign = home / "agents" / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"meow")
    try:
        for attempt in (
            lambda: registry.delete(root, "busy"),
            lambda: registry.export_agent(root, "busy", tmp_path / "busy.zip"),
        ):
            with pytest.raises(StoreError, match="open in another memgpt-tui"):
                attempt()
    finally:
        store.close()
    for attempt in (
        lambda: registry.delete(root, "photos"),
        lambda: registry.export_agent(root, "photos", tmp_path / "photos.zip"),
    ):
        with pytest.raises(StoreError, match="not a memgpt-tui agent store"):
            attempt()
    assert (foreign / "cat.jpg").read_bytes() == b"meow"
