from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from textual.widgets import Input, OptionList, Static, TabbedContent, TextArea

from memgpt_tui.engine.agent import Agent
from memgpt_tui.tui.screens.memory_browser import RECALL_HINT, MemoryBrowser
from memgpt_tui.tui.screens.modals import ConfirmModal, TextEditModal
from tests.fakes.scripted_llm import ScriptedLLM, say
from tests.tui.frozen import FrozenAgent, utc  # noqa: F401  (fixture)
from tests.tui.hosting import SIZE, SNAPSHOT_SIZES, HostApp, still, wait_until

if TYPE_CHECKING:
    from tests.tui.conftest import MakeAgent

pytestmark = pytest.mark.usefixtures("home")


@pytest.fixture
async def agent(make_agent: MakeAgent, llm: ScriptedLLM) -> Agent:
    """Six exchanges about tea (two pages of recall hits) and seven archival memories (two pages)."""
    agent = await make_agent()
    for i in range(6):
        llm.queue(say(f"Noted, tea number {i}."))
        await agent.send(f"I drank tea number {i} today")
    for i in range(7):
        await agent.insert_archival(f"memory {i}: Chad keeps a diary of teas")
    return agent


def browser(app: HostApp) -> MemoryBrowser:
    assert isinstance(app.screen, MemoryBrowser)
    return app.screen


def status(app: HostApp, kind: str) -> str:
    return str(browser(app).query_one(f"#{kind}-status", Static).render())


def detail(app: HostApp, kind: str) -> str:
    return str(browser(app).query_one(f"#{kind}-detail", Static).render())


def results(app: HostApp, kind: str) -> OptionList:
    return browser(app).query_one(f"#{kind}-results", OptionList)


async def opened(pilot: Any) -> MemoryBrowser:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, MemoryBrowser))
    return browser(pilot.app)


async def test_recall_search_pages_and_details(agent: Agent) -> None:
    app = HostApp(lambda: MemoryBrowser(agent))
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        assert isinstance(app.focused, Input)
        await pilot.press(*"tea", "enter")
        await wait_until(pilot, lambda: status(app, "recall").startswith("page 1/"))
        first = await agent.search_recall("tea", 0)
        assert first.total > 5 and first.pages >= 2
        assert status(app, "recall").startswith(f"page 1/{first.pages}, total {first.total}")
        assert results(app, "recall").option_count == 5
        assert app.focused is results(app, "recall")  # Enter moves to the results

        # The detail view shows the highlighted message in full, with its role and time.
        top = first.items[0]
        assert top.id in detail(app, "recall")
        assert f"step {top.step}" in detail(app, "recall")
        await pilot.press("down")
        assert first.items[1].id in detail(app, "recall")

        await pilot.press("right_square_bracket")
        await wait_until(pilot, lambda: status(app, "recall").startswith("page 2/"))
        second = await agent.search_recall("tea", 1)
        assert second.items[0].id in detail(app, "recall")
        await pilot.press("pageup")
        await wait_until(pilot, lambda: status(app, "recall").startswith("page 1/"))

        browser(app).query_one("#recall-query", Input).value = "zebra"
        browser(app).query_one("#recall-query", Input).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: status(app, "recall") == "No results found.")
        assert results(app, "recall").option_count == 0 and detail(app, "recall") == ""

        browser(app).query_one("#recall-query", Input).value = ""
        await pilot.press("enter")
        await wait_until(pilot, lambda: status(app, "recall") == RECALL_HINT)

        await pilot.press("escape")
        await wait_until(pilot, lambda: app.results)
    assert app.results == [None]


async def test_archival_lists_searches_adds_edits_and_deletes(agent: Agent) -> None:
    app = HostApp(lambda: MemoryBrowser(agent, tab="archival"))
    async with app.run_test(size=SIZE) as pilot:
        s = await opened(pilot)
        assert s.query_one(TabbedContent).active == "archival"
        # An empty query lists every entry.
        await wait_until(pilot, lambda: status(app, "archival").startswith("page 1/2, total 7"))
        assert results(app, "archival").option_count == 5

        # Letters are text while the query has focus; on the results they are commands.
        await pilot.press("tab")
        assert app.focused is results(app, "archival")

        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, TextEditModal))
        await pilot.press(*"Chad's ")  # typed into the editor, which has focus
        app.screen.query_one(TextArea).insert("cat is called Miso")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: status(app, "archival").startswith("page 1/2, total 8"))
        assert agent.archival_count == 8
        found = await agent.search_archival("cat Miso")
        assert any(p.text == "Chad's cat is called Miso" for p in found.items)

        # Edit the highlighted entry: the editor starts from its text.
        target = browser(app).pane("archival").selected
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, TextEditModal))
        editor = app.screen.query_one(TextArea)
        assert editor.text == target.text
        editor.text = "memory edited: Chad prefers oolong"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "oolong" in detail(app, "archival"))
        listed = await asyncio.to_thread(agent.store.archival_list, 0, 20)
        assert {p.id: p.text for p in listed.items}[target.id] == "memory edited: Chad prefers oolong"

        # Delete asks first; "n" keeps the entry.
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, MemoryBrowser))
        assert agent.archival_count == 8
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_until(pilot, lambda: status(app, "archival").startswith("page 1/2, total 7"))
        listed = await asyncio.to_thread(agent.store.archival_list, 0, 20)
        assert target.id not in {p.id for p in listed.items}
        assert agent.archival_count == 7

        # A query searches (hybrid) instead of listing.
        s.query_one("#archival-query", Input).value = "diary"
        s.query_one("#archival-query", Input).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: "score" in detail(app, "archival"))
        assert "diary" in detail(app, "archival")


async def test_edit_cancel_changes_nothing(agent: Agent) -> None:
    app = HostApp(lambda: MemoryBrowser(agent, tab="archival"))
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        await wait_until(pilot, lambda: results(app, "archival").option_count == 5)
        await pilot.click("#archival-edit")  # the buttons do what the keys do
        await wait_until(pilot, lambda: isinstance(app.screen, TextEditModal))
        app.screen.query_one(TextArea).text = "changed"
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, MemoryBrowser))
    listed = await asyncio.to_thread(agent.store.archival_list, 0, 20)
    assert "changed" not in {p.text for p in listed.items}


@pytest.mark.usefixtures("utc")
@SNAPSHOT_SIZES
def test_snapshot_memory_browser(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def prepare(pilot) -> None:  # type: ignore[no-untyped-def]
        await opened(pilot)
        await pilot.press(*"tea", "enter")
        await wait_until(pilot, lambda: status(pilot.app, "recall").startswith("page 1/2"))
        await pilot.press("down")
        still(pilot)

    assert snap_compare(HostApp(lambda: MemoryBrowser(FrozenAgent())), terminal_size=size, run_before=prepare)  # type: ignore[arg-type]
