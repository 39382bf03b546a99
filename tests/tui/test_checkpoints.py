from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from textual.color import Color
from textual.widgets import OptionList, Static

from memgpt_tui.engine.agent import Agent
from memgpt_tui.model.records import CheckpointInfo
from memgpt_tui.tui.screens import checkpoints
from memgpt_tui.tui.screens.checkpoints import CheckpointBrowser
from memgpt_tui.tui.screens.modals import ConfirmModal
from tests.fakes.scripted_llm import ScriptedLLM, call, say
from tests.tui.frozen import FrozenAgent, utc  # noqa: F401  (fixture)
from tests.tui.hosting import SIZE, SNAPSHOT_SIZES, HostApp, wait_until

if TYPE_CHECKING:
    from tests.tui.conftest import MakeAgent

pytestmark = pytest.mark.usefixtures("home")


@pytest.fixture
async def agent(make_agent: MakeAgent, llm: ScriptedLLM) -> Agent:
    """Checkpoints: created (step 0), a greeting (step 1), then the agent notes that Chad likes tea (step 2)."""
    agent = await make_agent()
    llm.queue(say("Hello Chad!"))
    await agent.send("hi")
    llm.queue(call("core_memory_append", label="human", content="Chad likes tea.", heartbeat=False))
    await agent.send("I like tea")
    return agent


def browser(app: HostApp) -> CheckpointBrowser:
    assert isinstance(app.screen, CheckpointBrowser)
    return app.screen


def preview(app: HostApp, part: str) -> str:
    return str(browser(app).query_one(f"#preview-{part}", Static).render())


async def listed(pilot: Any, count: int) -> CheckpointBrowser:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, CheckpointBrowser))
    await wait_until(pilot, lambda: browser(pilot.app).query_one(OptionList).option_count == count)
    return browser(pilot.app)


async def test_lists_newest_first_and_previews_the_highlighted_checkpoint(agent: Agent) -> None:
    app = HostApp(lambda: CheckpointBrowser(agent))
    async with app.run_test(size=SIZE) as pilot:
        s = await listed(pilot, 3)
        assert [info.step for info in s.infos] == [2, 1, 0]
        assert "3, newest first" in str(s.query_one("#checkpoints-title", Static).render())
        await wait_until(pilot, lambda: "human: unchanged" in preview(app, "diff"))  # the head is now

        await pilot.press("end")  # the "created" checkpoint
        assert "created" in preview(app, "header")
        await wait_until(pilot, lambda: "-Chad likes tea." in preview(app, "diff"))
        assert "persona: unchanged" in preview(app, "diff")
        counts = preview(app, "counts").splitlines()
        created = s.infos[-1]
        recall = next(line for line in counts if line.startswith("recall"))
        assert recall.split() == [
            "recall",
            str(created.messages),
            str(agent.recall_count),
            f"-{agent.recall_count - created.messages}",
        ]
        # The removed line has the theme's error colour, so a reader sees what a restore would take away.
        diff = browser(app).query_one("#preview-diff", Static).render()
        removed = Color.parse(app.theme_variables["text-error"])
        styles = [str(span.style) for span in diff.spans]  # type: ignore[union-attr]
        assert removed in [Color.parse(style) for style in styles if style.startswith(("#", "rgb"))]

        await pilot.press("escape")
        await wait_until(pilot, lambda: app.results)
    assert app.results == [None]


async def test_restore_asks_then_restores_and_undo_goes_back(agent: Agent) -> None:
    created, _, latest = await agent.checkpoints()
    app = HostApp(lambda: CheckpointBrowser(agent))
    async with app.run_test(size=SIZE) as pilot:
        await listed(pilot, 3)
        await pilot.press("end", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, CheckpointBrowser))
        assert "Chad likes tea." in agent.memory()["human"]

        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_until(pilot, lambda: app.results)
    restored = app.results[0]
    assert isinstance(restored, CheckpointInfo) and restored.label == "restored created"
    assert agent.memory()["human"] == "The user is Chad."
    assert agent.recall_count == created.messages and len(agent.buffer) == created.in_context

    # The previous head is still listed, under the restore: "u" brings it back.
    app = HostApp(lambda: CheckpointBrowser(agent))
    async with app.run_test(size=SIZE) as pilot:
        s = await listed(pilot, 4)
        assert s.infos[0].label == "restored created" and s.infos[1].step == 2
        await pilot.press("u")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_until(pilot, lambda: app.results)
    assert app.results[0].label == "restored step 2"
    assert "Chad likes tea." in agent.memory()["human"]
    assert agent.recall_count == latest.messages and len(agent.buffer) == latest.in_context
    assert len(await agent.checkpoints()) == 5


async def test_nothing_to_restore_or_undo(agent: Agent) -> None:
    app = HostApp(lambda: CheckpointBrowser(agent))
    async with app.run_test(size=SIZE) as pilot:
        await listed(pilot, 3)
        await pilot.press("enter")  # the head is the current state
        await pilot.press("u")  # no restore yet
        await pilot.pause()
        assert isinstance(app.screen, CheckpointBrowser)
        assert [text for _, text in app.notes] == [
            "That is the current state already.",
            "No restore to undo.",
        ]


async def test_thousands_of_checkpoints_list_fast_and_load_previews_lazily(
    agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cursor rests a second before a load: a busy machine may take a good part of one between keys.
    monkeypatch.setattr(checkpoints, "PREVIEW_DELAY", 1.0)

    def many() -> None:
        for i in range(1200):
            agent.store.checkpoint(agent.state, None, f"bulk {i}")

    await asyncio.to_thread(many)
    loads: list[str] = []
    real = agent.store.checkpoint_state

    def counted(checkpoint_id: str) -> Any:
        loads.append(checkpoint_id)
        return real(checkpoint_id)

    agent.store.checkpoint_state = counted  # type: ignore[method-assign]
    app = HostApp(lambda: CheckpointBrowser(agent))
    async with app.run_test(size=SIZE) as pilot:
        s = await listed(pilot, 1203)
        await wait_until(pilot, lambda: len(loads) == 1)
        await pilot.press(*["down"] * 12)
        target = s.infos[12]
        await wait_until(pilot, lambda: loads[-1] == target.id)
        assert len(loads) < 6  # not one load per row passed over
        assert "bulk 1187" in preview(app, "header")


@pytest.mark.usefixtures("utc")
@SNAPSHOT_SIZES
def test_snapshot_checkpoint_browser(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def prepare(pilot) -> None:  # type: ignore[no-untyped-def]
        await listed(pilot, 5)
        await pilot.press("down", "down")
        await wait_until(pilot, lambda: "green tea" in preview(pilot.app, "diff"))

    assert snap_compare(
        HostApp(lambda: CheckpointBrowser(FrozenAgent())), terminal_size=size, run_before=prepare
    )  # type: ignore[arg-type]
