from __future__ import annotations

from datetime import UTC, datetime

import pytest
from textual.widgets import DataTable

from memgpt_tui.config import Settings
from memgpt_tui.runtime import AgentInfo
from memgpt_tui.tui.screens.modals import ConfirmModal
from memgpt_tui.tui.screens.picker import NEW_AGENT, AgentPicker
from tests.tui.frozen import utc  # noqa: F401  (fixture)
from tests.tui.hosting import SIZE, SNAPSHOT_SIZES, HostApp, wait_until

pytestmark = pytest.mark.usefixtures("home")


INFOS = [
    AgentInfo(name="old", backend="embedded", model="gemma-3-270m", last_used=None, messages=3, archival=0),
    AgentInfo(
        name="sam",
        backend="openai",
        model="gpt-4o-mini",
        last_used=datetime(2024, 5, 2, 9, 30, tzinfo=UTC),
        messages=120,
        archival=14,
    ),
    AgentInfo(
        name="ada",
        backend="openai-compatible",
        model="llama3.1",
        last_used=datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
        messages=40,
        archival=2,
    ),
]


def host() -> HostApp:
    return HostApp(lambda: AgentPicker(INFOS, Settings.load()))


def table(app: HostApp) -> DataTable:
    return app.screen.query_one(DataTable)


async def test_lists_agents_most_recent_first_and_enter_opens() -> None:
    app = host()
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, AgentPicker))
        rows = [table(app).get_row_at(i) for i in range(table(app).row_count)]
        assert [r[0] for r in rows] == ["sam", "ada", "old"]
        assert rows[0][1:] == ["openai:gpt-4o-mini", rows[0][2], 120, 14]
        assert rows[2][2] == "never"
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: app.results)
    assert app.results == ["ada"]


@pytest.mark.parametrize(("key", "result"), [("n", NEW_AGENT), ("q", None), ("escape", None)])
async def test_new_and_quit(key: str, result: str | None) -> None:
    app = host()
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, AgentPicker))
        await pilot.press(key)
        await wait_until(pilot, lambda: app.results)
    assert app.results == [result]


async def test_delete_asks_first_then_deletes(monkeypatch: pytest.MonkeyPatch) -> None:
    deleted: list[str] = []
    monkeypatch.setattr("memgpt_tui.runtime.delete_agent", lambda settings, name: deleted.append(name))
    app = host()
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, AgentPicker))
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("n")  # changed my mind
        await wait_until(pilot, lambda: isinstance(app.screen, AgentPicker))
        assert deleted == [] and table(app).row_count == 3

        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_until(pilot, lambda: table(app).row_count == 2)
        assert deleted == ["sam"]
        assert any("Deleted 'sam'" in text for _, text in app.notes)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.results)
    assert app.results == ["ada"]


async def test_empty_list_invites_a_new_agent() -> None:
    app = HostApp(lambda: AgentPicker([], Settings.load()))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, AgentPicker))
        assert app.screen.query_one("#picker-empty").display
        await pilot.press("enter", "d")  # nothing to open or delete
        assert app.results == []
        await pilot.press("n")
        await wait_until(pilot, lambda: app.results)
    assert app.results == [NEW_AGENT]


async def test_delete_removes_a_real_agent() -> None:
    from memgpt_tui import runtime
    from memgpt_tui.store import registry
    from tests.store.helpers import HashEmbedder

    settings = Settings.load()
    for name in ("keep", "gone"):
        registry.create_store(settings.agents_root(), name, HashEmbedder()).close()
    app = HostApp(lambda: AgentPicker(runtime.agent_infos(settings), settings))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, AgentPicker))
        while table(app).get_row_at(table(app).cursor_row)[0] != "gone":
            await pilot.press("down")
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_until(pilot, lambda: table(app).row_count == 1)
    assert [i.name for i in runtime.agent_infos(settings)] == ["keep"]


@pytest.mark.usefixtures("utc")
@SNAPSHOT_SIZES
def test_snapshot_picker(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def prepare(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, AgentPicker))

    assert snap_compare(host(), terminal_size=size, run_before=prepare)
