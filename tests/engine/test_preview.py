"""An agent shown from its preview before its store opens, then completed by ``Agent.open``."""

from __future__ import annotations

import asyncio

from memgpt_tui.engine.agent import Agent
from memgpt_tui.engine.preview import Preview
from memgpt_tui.model import events as ev
from memgpt_tui.model.messages import user_message
from memgpt_tui.store import preview as preview_file
from tests.engine.conftest import Recorder
from tests.fakes.scripted_llm import answer_after_searches, call, say
from tests.store.helpers import make_state


async def closed_agent(make_agent, llm, name: str = "previewed") -> None:
    agent, _ = await make_agent(name=name)
    llm.queue(
        call("core_memory_append", heartbeat=True, label="human", content="Likes sailing."), say("Nice.")
    )
    await agent.send("I like sailing")
    await agent.close()


def read_preview(tmp_path, name: str) -> bytes | None:
    return preview_file.read(str(tmp_path / "home" / "agents"), name)


async def pages_as_its_store(shown: Agent, open_store, seconds: float) -> None:
    """An agent shown from its preview gives the newest page within ``seconds``, as its store has it."""
    page = await asyncio.wait_for(shown.older_messages(None, 60), seconds)
    store = open_store(shown.name)
    assert [m.id for m in page] == [m.id for m in store.recent_messages(None, 60)]
    store.close()


async def test_close_leaves_a_preview_equal_to_what_load_finds(make_agent, llm, open_store, limits, tmp_path):
    await closed_agent(make_agent, llm)
    data = read_preview(tmp_path, "previewed")
    assert data is not None
    shown = Agent.from_preview(data, limits)
    loaded = await Agent.load(open_store("previewed"), llm, limits)
    assert shown.state == loaded.state
    assert [m.id for m in shown.buffer] == [m.id for m in loaded.buffer]
    assert (shown.recall_count, shown.archival_count) == (loaded.recall_count, loaded.archival_count)
    assert shown.last_context is not None and shown.last_context.breakdown.total > 0
    assert not shown.is_open and loaded.is_open


async def test_an_empty_window_pages_from_the_preview(make_agent, llm, open_store, limits, tmp_path):
    """After /pop took every message out of view, the newest recall still shows before the store opens
    (a screen's first page waits on it before the store is opened)."""
    agent, _ = await make_agent(name="popped")
    llm.queue(say("Hello."), say("They said hello."))
    await agent.send("Hi")
    assert await agent.summarize_now() > 0  # the older messages stay in recall only
    await agent.pop(len(agent.buffer))
    assert not agent.buffer and agent.recall_count > 0
    await agent.close()
    await pages_as_its_store(Agent.from_preview(read_preview(tmp_path, "popped"), limits), open_store, 1.0)


async def test_a_shown_agent_waits_for_its_store_then_works(make_agent, llm, open_store, limits, tmp_path):
    await closed_agent(make_agent, llm)
    shown = Agent.from_preview(read_preview(tmp_path, "previewed"), limits)
    recorder = Recorder()
    shown.subscribe(recorder)
    llm.queue(say("Hello again."))
    sending = asyncio.create_task(shown.send("Back again"))
    await asyncio.sleep(0.05)
    assert not sending.done()  # nothing is written before the store is there
    await shown.open(open_store("previewed"), llm)
    await sending
    assert recorder.of(ev.AssistantMessage)[-1].text == "Hello again."
    assert not recorder.of(ev.HistoryChanged)  # the preview matched the store
    await shown.close()


async def test_a_stale_preview_gives_way_to_the_store(make_agent, llm, open_store, limits, tmp_path):
    """The preview was written, then the agent moved on (a later run that was killed): the store wins."""
    await closed_agent(make_agent, llm)
    stale = read_preview(tmp_path, "previewed")
    assert stale is not None
    later = await Agent.load(open_store("previewed"), llm, limits)
    llm.queue(
        call(
            "core_memory_replace", heartbeat=True, label="human", old_content="sailing", new_content="rowing"
        )
    )
    llm.queue(say("Rowing it is."))
    await later.send("Actually I row")
    assert read_preview(tmp_path, "previewed") is None  # the first write took it away
    await asyncio.to_thread(later.store.close)  # closed without a new preview, as a killed process

    shown = Agent.from_preview(stale, limits)
    recorder = Recorder()
    shown.subscribe(recorder)
    await shown.open(open_store("previewed"), llm)
    assert shown.memory()["human"].endswith("Likes rowing.")
    assert [m.id for m in shown.buffer] == [m.id for m in later.buffer]
    assert recorder.of(ev.HistoryChanged)
    assert [e.label for e in recorder.of(ev.CoreMemoryChanged)] == ["human"]
    await shown.close()


def test_scrollback_comes_from_the_preview_until_it_runs_out(monkeypatch):
    from memgpt_tui.engine import preview

    monkeypatch.setattr(preview, "OLDER", 6)
    messages = [user_message(f"m{i}", i) for i in range(10)]
    # The newest six are m4 to m9; the window kept m2 from before them (a question kept in view).
    view = Preview(
        head="c",
        state=make_state(),
        buffer=[messages[2], *messages[7:]],
        older=messages[4:7],
        reaches_start=False,
        recall_count=10,
        archival_count=0,
    )
    assert view.messages_before(None, 5) == messages[5:]
    assert view.messages_before(messages[7].id, 3) == messages[4:7]
    assert view.messages_before(messages[6].id, 2) == messages[4:6]
    assert view.messages_before(messages[6].id, 3) is None  # would need messages the preview lacks
    assert view.messages_before(messages[2].id, 1) is None  # before the newest: not the preview's


async def test_a_window_with_steps_evicted_around_its_question_pages_from_the_preview(
    make_agent, llm, open_store, limits, tmp_path
):
    agent, _ = await make_agent(name="searched")
    await answer_after_searches(agent, llm, 3)
    await agent.summarize_now()
    question = next(m for m in agent.buffer if m.kind == "user_message")
    in_view = {m.id for m in agent.buffer}
    assert any(m.id not in in_view for m in agent.store.messages_after(question.id, 100))
    await agent.close()
    await pages_as_its_store(Agent.from_preview(read_preview(tmp_path, "searched"), limits), open_store, 10.0)


async def test_whoever_waits_for_the_open_agent_sees_its_unanswered_message(
    make_agent, llm, open_store, limits, tmp_path
):
    from memgpt_tui.model.errors import BackendUnavailable

    agent, _ = await make_agent(name="pending")
    llm.queue(BackendUnavailable("Nothing answers", hint="Start the server."))
    await agent.send("are you there?")
    assert agent.unanswered() is not None
    await agent.close()

    shown = Agent.from_preview(read_preview(tmp_path, "pending"), limits)
    seen = []

    async def waiter() -> None:
        await shown.wait_open()
        seen.append(shown.unanswered())

    waiting = asyncio.create_task(waiter())
    await shown.open(open_store("pending"), llm)
    await waiting
    assert seen == ["are you there?"]
    await shown.close()
