"""The main screen's side column and keys: gauge, embedded note, screens opened by bindings."""

from __future__ import annotations

from textual.widgets import Sparkline, Static

from memgpt_tui.model import events as ev
from memgpt_tui.tui.screens.checkpoints import CheckpointBrowser
from memgpt_tui.tui.screens.help import HelpScreen
from memgpt_tui.tui.screens.main import EMBEDDED_NOTE
from memgpt_tui.tui.screens.memory_browser import MemoryBrowser
from memgpt_tui.tui.widgets.context_gauge import ContextGauge, GaugeBar, segments
from memgpt_tui.tui.widgets.core_memory import CoreMemoryPane
from tests.fakes.scripted_llm import call, say
from tests.tui.conftest import app_for, idle, ready, type_and_send
from tests.tui.hosting import wait_until


def gauge_text(gauge: ContextGauge) -> str:
    return "\n".join(str(w.render()) for w in gauge.query(Static))


async def test_gauge_follows_the_context_window(make_agent, llm) -> None:
    agent = await make_agent()
    llm.queue(say("First."), say("Second, a longer answer with many more words in it."))
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        gauge = main.query_one(ContextGauge)
        first = gauge.context
        assert first is not None and f"{first.used:,} / 4,000 tokens" in gauge_text(gauge)
        assert "≈" not in gauge_text(gauge)  # the test tokenizer is exact
        for text in ("hello", "and more"):
            await type_and_send(pilot, text)
            await idle(pilot)
        assert gauge.context is not None and gauge.context.used > first.used
        text = gauge_text(gauge)
        assert f"{gauge.context.used:,} / 4,000" in text
        for label in ("system", "tools", "core memory", "summary", "messages"):
            assert label in text
        assert main.query_one(Sparkline).data == list(agent.state.prompt_history)
        assert not gauge.query_one(".gauge-warning").display


async def test_gauge_marks_estimates_and_the_warning_line(make_agent) -> None:
    agent = await make_agent()
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        gauge = main.query_one(ContextGauge)
        breakdown = ev.TokenBreakdown(system=900, tools=700, core_memory=300, summary=200, messages=1200)
        gauge.show(ev.ContextChanged(breakdown, 4000, False, 0.75, 10, 500, 7, (1000, 2000, 3300)))
        await pilot.pause()
        text = gauge_text(gauge)
        assert "≈3,300 / 4,000 tokens" in text and "82%" in text
        assert "≈    700" in text
        assert gauge.query_one(".gauge-warning").display
        assert "75% warning" in text
        bar = str(gauge.query_one(GaugeBar).render())
        assert "75%" in bar.splitlines()[1]


async def test_gauge_says_when_the_model_is_offered_fewer_functions_and_shown_part(make_agent) -> None:
    agent = await make_agent()
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        gauge = main.query_one(ContextGauge)
        assert "functions offered" not in gauge_text(gauge)  # all of them: nothing to say
        breakdown = ev.TokenBreakdown(system=900, tools=700, core_memory=300, messages=1200)
        gauge.show(ev.ContextChanged(breakdown, 8000, True, 0.75, 10, 10, 0, functions=(2, 8), partial=True))
        await pilot.pause()
        text = gauge_text(gauge)
        assert "2 of 8 functions offered per step" in text
        assert "the model sees only the last exchange" in text
        assert "the model does not see warnings; older messages are summarised" in text


def test_segments_fill_in_proportion() -> None:
    breakdown = ev.TokenBreakdown(system=100, tools=100, core_memory=1, summary=0, messages=200)
    cells = segments(breakdown, 1000, 40)
    assert cells == [4, 4, 1, 0, 8]
    full = segments(ev.TokenBreakdown(messages=5000), 1000, 40)
    assert sum(full) == 40


async def test_embedded_backend_shows_the_weak_model_note(make_agent) -> None:
    agent = await make_agent(backend="embedded")
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        note = str(main.query_one("#embedded-note").render())
        assert note == EMBEDDED_NOTE and "memgpt-tui configure" in note


async def test_keys_open_memory_browser_checkpoints_and_help(make_agent) -> None:
    agent = await make_agent()
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        for key, screen in (("ctrl+b", MemoryBrowser), ("ctrl+r", CheckpointBrowser), ("f1", HelpScreen)):
            await pilot.press(key)
            await wait_until(pilot, lambda screen=screen: isinstance(pilot.app.screen, screen))
            await pilot.press("escape")
            await wait_until(pilot, lambda: pilot.app.screen is main)
        main.conversation.focus()
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))


async def test_restoring_a_checkpoint_updates_every_pane(make_agent, llm) -> None:
    agent = await make_agent()
    llm.queue(
        call("core_memory_append", "Remember.", label="human", content="Likes tea.", heartbeat=True),
        say("Noted."),
    )
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        created = (await agent.checkpoints())[0]
        await type_and_send(pilot, "I like tea")
        await idle(pilot)
        assert "Likes tea." in agent.state.block("human").value
        await agent.restore(created.id)
        view = main.query_one(CoreMemoryPane).view("human")
        await wait_until(pilot, lambda: "Likes tea." not in str(view.query_one(".block-body").render()))
        assert view.has_class("-flash")
        await wait_until(pilot, lambda: not main.conversation.query("UserRow"))
