"""The server's pool of open agents, in-process on real stores and the fake model: many agents at once,
one turn at a time each, idle agents closed."""

from __future__ import annotations

import asyncio

import pytest

from memgpt_tui.config import ConfigError, Settings
from memgpt_tui.server.pool import Busy, Pool
from memgpt_tui.store import registry
from memgpt_tui.store.accounts import LOCAL_OWNER, Accounts
from tests.fakes.openai_server import Reply

from .harness import server_env


@pytest.fixture
def pool_and_accounts(tmp_path, fake, monkeypatch):
    home = tmp_path / "home"
    for name, value in server_env(home, fake).items():
        if name.startswith("MEMGPT_TUI_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("MEMGPT_TUI_SERVE__IDLE_TIMEOUT", "0.3")
    settings = Settings.load()
    accounts = Accounts(None, home, settings.agents_root())
    yield Pool(settings), accounts
    accounts.close()


async def test_many_agents_at_once_one_turn_each_and_idle_ones_closed(pool_and_accounts, fake):
    pool, accounts = pool_and_accounts
    records = [accounts.add_agent(LOCAL_OWNER, name) for name in ("one", "two")]
    for record in records:
        await pool.create(record, pool.settings_for(record.root), None)

    fake.script(*[Reply.tool_call("send_message", {"message": "ok"}, content="t", delay=0.5)] * 2)
    turns = [(await pool.start(r, lambda agent: agent.send("hello")))[0] for r in records]
    with pytest.raises(Busy):  # a second turn on a busy agent is refused, the other agent is not held up
        await pool.start(records[0], lambda agent: agent.send("again"))
    await asyncio.wait(turns, timeout=30)
    assert all(t.done() and t.exception() is None for t in turns)
    assert [(await pool.agent(r)).recall_count > 3 for r in records] == [True, True]

    reaper = asyncio.create_task(pool.reap())
    try:
        for _ in range(100):
            if pool.open_count == 0:
                break
            await asyncio.sleep(0.05)
        assert pool.open_count == 0
    finally:
        reaper.cancel()
    assert len(pool._locks) == 0  # nothing kept for the agents it closed
    store = await asyncio.to_thread(registry.open_store, records[0].root, records[0].dir, None)
    store.close()  # closed for real: its lock is free
    await pool.shutdown(1)


async def test_a_request_during_a_delete_waits_for_it_and_finds_the_agent_gone(pool_and_accounts):
    pool, accounts = pool_and_accounts
    record = accounts.add_agent(LOCAL_OWNER, "doomed")
    await pool.create(record, pool.settings_for(record.root), None)
    removing, go_on = asyncio.Event(), asyncio.Event()

    async def remove() -> None:
        removing.set()
        await go_on.wait()
        await asyncio.to_thread(registry.delete, record.root, record.dir)

    deleting = asyncio.create_task(pool.delete(record, remove))
    await removing.wait()  # closed, not yet removed: a request now must not open it again
    reopening = asyncio.create_task(pool.agent(record))
    await asyncio.sleep(0.1)
    assert not reopening.done()
    go_on.set()
    await deleting
    with pytest.raises(ConfigError, match="No agent named"):
        await reopening
    assert pool.opened(record.id) is None
    await pool.shutdown(1)
