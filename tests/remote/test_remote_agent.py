"""The remote agent against a real ``memgpt-tui serve``: the same interface, events and snapshot as a
local agent; history edits, memory, search, checkpoints and export; read-along, the 409 of a busy agent,
a wrong token; line mode and the Client attached (the server killed and started again:
test_attached_tui)."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import subprocess
import sys
from contextlib import asynccontextmanager

import pytest

from memgpt_tui.client import Client, ClientError
from memgpt_tui.model import events as ev
from memgpt_tui.model.errors import AgentError
from memgpt_tui.model.messages import Message, ToolCall, user_message
from memgpt_tui.plain import Printer
from memgpt_tui.remote import home
from memgpt_tui.remote.connection import ServerError
from tests.fakes.openai_server import Reply
from tests.server.harness import server_env, start


async def attach(served, name):
    return await home.open_agent(await home.connect(served.url, None), name)


async def until(seen: list[ev.Event], kind: type[ev.Event], timeout: float = 10, **fields) -> ev.Event:
    """The latest event of ``kind`` (with these ``fields``) seen, once one has arrived."""

    async def found() -> ev.Event:
        def wanted(e: ev.Event) -> bool:
            return isinstance(e, kind) and all(getattr(e, k) == v for k, v in fields.items())

        while not (hits := [e for e in seen if wanted(e)]):
            await asyncio.sleep(0.01)
        return hits[-1]

    return await asyncio.wait_for(found(), timeout)


async def noticed(seen: list[ev.Event], words: str) -> str:
    """The first notice with these words, once one has arrived."""
    while not (hits := [e.text for e in seen if isinstance(e, ev.Notice) and words in e.text]):
        await asyncio.sleep(0.01)
    return hits[0]


async def test_a_turn_streams_its_events_and_the_snapshot_follows(served, fake, agent_name):
    agent = await attach(served, agent_name)
    seen: list[ev.Event] = []
    agent.subscribe(seen.append)
    try:
        fake.script(
            Reply.tool_call(
                "core_memory_append",
                {"label": "human", "content": "Likes tea.", "request_heartbeat": True},
                content="Note it.",
            ),
            Reply.tool_call("send_message", {"message": "Tea it is."}, content="Reply."),
        )
        await agent.send("I like tea.")
        kinds = {type(e) for e in seen}
        assert {ev.StepStarted, ev.Token, ev.InnerThought, ev.FunctionCalled, ev.CoreMemoryChanged} <= kinds
        assert [e.text for e in seen if isinstance(e, ev.AssistantMessage)] == ["Tea it is."]
        view = agent.snapshot()
        assert view.memory()["human"].endswith("Likes tea.")
        assert any(m.user_text() == "I like tea." for m in view.in_context)
        assert agent.last_context is not None and agent.last_context.recall_messages == view.recall_messages

        # History edits, as the commands run them.
        await agent.rewrite("Tea, noted!")
        await until(seen, ev.HistoryChanged, reason="/rewrite")
        assert '"Tea, noted!"' in next(
            c.arguments for m in reversed(agent.snapshot().in_context) for c in m.tool_calls
        )
        assert await agent.pop(2) >= 2
        older = await agent.older_messages(None, 5)
        assert older and all(m.id for m in older)
    finally:
        await agent.close()


async def test_memory_search_checkpoints_and_export(served, fake, agent_name, tmp_path):
    agent = await attach(served, agent_name)
    seen: list[ev.Event] = []
    agent.subscribe(seen.append)
    try:
        before = await agent.checkpoints()
        await agent.update_block("human", "Bo, who likes jasmine")
        changed = await until(seen, ev.CoreMemoryChanged)
        assert changed.new == "Bo, who likes jasmine" and agent.snapshot().memory()["human"] == changed.new

        passage = await agent.insert_archival("The kettle is blue.")
        assert [p.id for p in (await agent.search_archival("kettle")).items][:1] == [passage]
        assert (await agent.list_archival()).total == 1
        await agent.update_archival(passage, "The kettle is green.")
        assert [p.text for p in (await agent.list_archival()).items] == ["The kettle is green."]
        await agent.delete_archival(passage)
        assert (await agent.list_archival()).total == 0

        fake.script(Reply.tool_call("send_message", {"message": "Jasmine!"}, content="Reply."))
        await agent.send("Tea?")
        assert (await agent.search_recall("Tea")).total >= 1
        for text in ("Tea one", "Tea two", "Tea three", "Tea four", "Tea five"):
            await agent.insert_archival(text)
        assert len((await agent.search_archival("Tea")).items) == 5  # the agent's own page size, as locally
        assert len((await agent.search_archival("Tea", size=2)).items) == 2
        assert await agent.find_messages("Tea")

        then = await agent.checkpoint_state(before[-1].id)
        assert then.block("human").value == "Bo"
        restored = await agent.restore(before[-1].id)
        assert restored.label.startswith("restored")
        await until(seen, ev.HistoryChanged, reason=restored.label)
        assert agent.snapshot().memory()["human"] == "Bo"
        undo = [c for c in await agent.checkpoints() if c.id != restored.id][-1]
        await agent.restore(undo.id)  # the head before the restore: the undo
        assert (await agent.save("kept")).label == "kept"

        from memgpt_tui import commands

        written = (await commands.run(agent, f"/export {tmp_path / 'talk.md'}")).text
        assert "Jasmine!" in (tmp_path / "talk.md").read_text() and "talk.md" in written
        with pytest.raises(commands.CommandError, match="server's machine"):
            await commands.run(agent, "/attach notes")
    finally:
        await agent.close()


async def test_a_block_saved_as_it_is_returns_at_once_and_changes_nothing(served, agent_name, monkeypatch):
    from memgpt_tui.remote import agent as remote

    monkeypatch.setattr(remote, "EDIT_EVENT_WAIT", 600.0)  # an edit whose event never came would hang
    agent = await attach(served, agent_name)
    seen: list[ev.Event] = []
    agent.subscribe(seen.append)
    try:
        before = await agent.checkpoints()
        changed = await asyncio.wait_for(agent.update_block("human", "Bo"), 20)
        assert changed is False  # the server's answer: the save was sent, and changed nothing
        assert not [e for e in seen if isinstance(e, ev.CoreMemoryChanged | ev.HistoryChanged)]
        assert await agent.checkpoints() == before
    finally:
        await agent.close()


async def test_a_save_that_looks_unchanged_here_is_applied_when_another_client_changed_the_block(
    served, agent_name
):
    agent = await attach(served, agent_name)
    seen: list[ev.Event] = []
    agent.subscribe(seen.append)
    try:
        path = f"/v1/agents/{agent.id}/core-memory/blocks/human"
        with served.http() as other:  # blocks the loop: this agent has not heard of the edit yet
            assert other.patch(path, json={"value": "Bo, who sails"}).status_code == 200
        assert agent.snapshot().memory()["human"] == "Bo"
        changed = await agent.update_block("human", "Bo")
        with served.http() as http:
            assert http.get(path).json()["value"] == "Bo"
        assert changed is True
        await until(seen, ev.CoreMemoryChanged, new="Bo")
        assert agent.snapshot().memory()["human"] == "Bo"
    finally:
        await agent.close()


async def test_an_unreadable_event_is_logged_and_the_next_ones_still_arrive(served, fake, agent_name, caplog):
    agent = await attach(served, agent_name)
    seen: list[ev.Event] = []
    agent.subscribe(seen.append)
    try:
        await agent._arrived_line("{not json")
        await agent._arrived_line(json.dumps({"message_type": "tool_call_message", "tool_call": {}}))
        assert "unreadable event" in caplog.text
        fake.script(Reply.tool_call("send_message", {"message": "Still here."}, content="Reply."))
        await agent.send("Hello?")
        assert [e.text for e in seen if isinstance(e, ev.AssistantMessage)] == ["Still here."]
    finally:
        await agent.close()


async def test_read_along_and_a_busy_agent_gives_the_text_back(served, fake, agent_name):
    first, second = await attach(served, agent_name), await attach(served, agent_name)
    mine: list[ev.Event] = []
    theirs: list[ev.Event] = []
    first.subscribe(mine.append)
    second.subscribe(theirs.append)
    try:
        fake.script(Reply.tool_call("send_message", {"message": "Slowly."}, content="Think.", delay=0.6))
        turn = asyncio.create_task(first.send("Take your time."))
        await until(theirs, ev.StepStarted)
        with pytest.raises(AgentError, match="answering another message.*back in the input"):
            await second.send("Me too!")
        assert (await until(theirs, ev.StepCancelled)).returned_text == "Me too!"
        await turn
        assert [e.text for e in theirs if isinstance(e, ev.AssistantMessage)] == ["Slowly."]
        await until(
            theirs, ev.HistoryChanged, reason="a turn from another terminal"
        )  # the other terminal's message is in its view too
        assert any(m.user_text() == "Take your time." for m in second.snapshot().in_context)
    finally:
        await first.close()
        await second.close()


@asynccontextmanager
async def agent_on_a_server_of_its_own(fake, tmp_path):
    """A server this test may kill and start again, its agent "sam" attached, and the events seen."""
    server_home = tmp_path / "server-home"
    server_home.mkdir(mode=0o700)
    served = start(server_home, fake)
    agent = None
    try:
        with served.http() as http:
            assert http.post("/v1/agents/", json={"name": "sam"}).status_code == 200
        agent = await attach(served, "sam")
        seen: list[ev.Event] = []
        agent.subscribe(seen.append)
        yield served, agent, seen
    finally:
        if agent is not None:
            await agent.close()
        served.stop()


async def test_a_message_sent_as_the_server_fell_is_said_received_or_not_once_it_is_back(fake, tmp_path):
    """Killed mid-turn: the text is back in the input, and once the server is back the TUI says it had
    the message (kept unanswered), so it is not sent twice; a send that never left says the opposite."""
    async with agent_on_a_server_of_its_own(fake, tmp_path) as (served, agent, seen):
        fake.script(Reply.tool_call("send_message", {"message": "Never said."}, delay=30))
        turn = asyncio.create_task(agent.send("Did you get this?"))
        await until(seen, ev.StepStarted)
        served.stop(signal.SIGKILL)
        with pytest.raises(AgentError, match="back in the input. The server may have received it"):
            await turn
        with pytest.raises(AgentError, match="back in the input.$"):  # never left: nothing to say later
            await agent.send("Nobody home?")
        fake.script(Reply.tool_call("send_message", {"message": "Back."}))
        served.process = start(tmp_path / "server-home", fake, port=served.port).process
        notice = await asyncio.wait_for(noticed(seen, "The server received"), 30)
        assert notice.startswith("The server received “Did you get this?” before the break")
        caught = [m.user_text() for e in seen if isinstance(e, ev.CaughtUp) for m in e.messages]
        assert caught == ["Did you get this?"]  # shown once, and kept to be answered
        assert agent.unanswered() == "Did you get this?"


async def test_a_reply_rewritten_elsewhere_during_a_break_is_read_again(fake, tmp_path):
    """The server killed, started again, and the last reply rewritten by another client before this
    agent is back: catching up reads the conversation again whole, so the old text is not left shown."""
    async with agent_on_a_server_of_its_own(fake, tmp_path) as (served, agent, seen):
        fake.script(Reply.tool_call("send_message", {"message": "As first said."}))
        await agent.send("Say something.")
        served.stop(signal.SIGKILL)
        await asyncio.wait_for(noticed(seen, "Server unreachable"), 30)
        # Both calls block this loop, so the agent cannot reconnect before the rewrite is made.
        served.process = start(tmp_path / "server-home", fake, port=served.port).process
        with served.http() as other:
            rewritten = other.post(f"/v1/x-memgpt/agents/{agent.id}/rewrite", json={"text": "As said now."})
            assert rewritten.status_code == 200, rewritten.text
        await until(seen, ev.HistoryChanged, timeout=30, reason="reconnected to the server")
        said = json.dumps([c.arguments for m in agent.snapshot().in_context for c in m.tool_calls])
        assert "As said now." in said and "As first said." not in said


async def test_a_wrong_token_or_server_is_one_sentence(served, tmp_path):
    with pytest.raises(ServerError, match="unreachable"):
        await home.connect("http://127.0.0.1:9", None)
    connection = await home.connect(served.url, None)
    with pytest.raises(ServerError, match="No agent named 'nobody'"):
        await home.open_agent(connection, "nobody")
    await connection.aclose()


def test_the_client_creates_imports_and_deletes_on_the_server(served, fake, tmp_path):
    with Client(home=tmp_path / "client-home", server=served.url) as client:
        assert client.create_agent("made_by_client", context_window=6000) == "made_by_client"
        exported = client.export_agent("made_by_client", tmp_path / "made.zip")
        imported = client.import_agent(exported, name="copied_by_client")
        assert imported["agents"] == [{"name": "copied_by_client"}]
        on_server = [a["name"] for a in client.list_agents()]
        assert {"made_by_client", "copied_by_client"} <= set(on_server)
        client.delete_agent("copied_by_client")
        client.delete_agent("made_by_client")
        assert not {"made_by_client", "copied_by_client"} & {a["name"] for a in client.list_agents()}
        with pytest.raises(ClientError, match="imported on the server's machine"):
            client.import_agent(tmp_path)
    assert not (tmp_path / "client-home" / "agents").exists()  # nothing was made here


def test_line_mode_and_the_client_attach(served, fake, agent_name, tmp_path):
    fake.script(Reply.tool_call("send_message", {"message": "Hello from afar."}, content="Greet."))
    env = {**server_env(tmp_path / "client-home", fake)}
    done = subprocess.run(
        [sys.executable, "-m", "memgpt_tui", "run", "--plain", "--server", served.url, "--agent", agent_name],
        input="Hi there\n/memory\n/attach notes\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"{agent_name}: Hello from afar." in done.stdout
    assert "[human]" in done.stdout
    assert "✗ /attach: data sources are attached on the server's machine" in done.stdout
    assert not (tmp_path / "client-home" / "agents").exists()  # nothing ran here

    fake.script(Reply.tool_call("send_message", {"message": "Client hello."}, content="Greet."))
    with Client(server=served.url) as client:
        said = client.user_message(agent_name, "Hello?")
        assert {"assistant_message": "Client hello."} in said
        assert client.get_core_memory(agent_name)["human"] == "Bo"
        assert agent_name in [a["name"] for a in client.list_agents()]


def test_line_mode_prints_what_was_caught_up_on():
    call = ToolCall(id="call_1", name="send_message", arguments=json.dumps({"message": "Back at you."}))
    missed = (
        user_message("Said elsewhere", 3),
        Message(role="assistant", kind="assistant", content="A thought.", tool_calls=(call,), step=3),
        Message(role="tool", kind="tool_result", content='{"status": "OK"}', tool_call_id="call_1", step=3),
    )
    out = io.StringIO()
    Printer(out, "sam")(ev.CaughtUp(missed))
    assert out.getvalue().splitlines() == ["> Said elsewhere", "💭 A thought.", "sam: Back at you."]
