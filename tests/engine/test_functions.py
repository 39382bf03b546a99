"""Each of the eight functions, through a full step, as the model sees the result."""

from __future__ import annotations

import json
from datetime import date

from memgpt_tui.engine.functions import TOOL_SCHEMAS
from memgpt_tui.model import events as ev
from tests.fakes.scripted_llm import call, say


def result_of(agent) -> dict:
    tool = [m for m in agent.buffer if m.role == "tool"][-1]
    return json.loads(tool.content)


async def run(agent, llm, reply, *then, text="go"):
    llm.queue(reply, *then)
    await agent.send(text)
    return result_of(agent)


def test_schemas_cover_all_eight_functions():
    names = [t["function"]["name"] for t in TOOL_SCHEMAS]
    assert names == [
        "send_message",
        "pause_heartbeats",
        "core_memory_append",
        "core_memory_replace",
        "conversation_search",
        "conversation_search_date",
        "archival_memory_insert",
        "archival_memory_search",
    ]
    by_name = {t["function"]["name"]: t["function"]["parameters"] for t in TOOL_SCHEMAS}
    assert "request_heartbeat" not in by_name["send_message"]["properties"]
    assert "request_heartbeat" not in by_name["pause_heartbeats"]["properties"]
    for name in names[2:]:
        assert by_name[name]["properties"]["request_heartbeat"]["type"] == "boolean"
    assert by_name["conversation_search_date"]["properties"]["start_date"]["type"] == "string"
    assert by_name["core_memory_replace"]["required"] == ["label", "old_content", "new_content"]


async def test_send_message_result_format(make_agent, llm):
    agent, _ = await make_agent()
    result = await run(agent, llm, say("hi"))
    assert result["status"] == "OK" and result["message"] == "None" and result["time"]


async def test_core_memory_append_and_limit(make_agent, llm):
    agent, rec = await make_agent()
    result = await run(agent, llm, call("core_memory_append", label="human", content="Likes tea."))
    assert result["status"] == "OK"
    assert agent.memory()["human"] == "The user is Chad.\nLikes tea."
    changed = rec.of(ev.CoreMemoryChanged)[0]
    assert (changed.label, changed.by, changed.new) == ("human", "agent", "The user is Chad.\nLikes tea.")
    await run(agent, llm, call("core_memory_append", label="human", content="x" * 2000), say("ok"))
    failed = [json.loads(m.content) for m in agent.buffer if m.role == "tool" and '"Failed"' in m.content][-1]
    assert "over its limit of 2000" in failed["message"] and "archival" in failed["message"]
    assert agent.memory()["human"] == "The user is Chad.\nLikes tea."


async def test_core_memory_replace_exact_delete_and_read_only(make_agent, llm):
    agent, _ = await make_agent()
    result = await run(
        agent, llm, call("core_memory_replace", label="human", old_content="Chad", new_content="Chadwick")
    )
    assert result["status"] == "OK" and agent.memory()["human"] == "The user is Chadwick."
    result = await run(
        agent, llm, call("core_memory_replace", label="human", old_content=" Chadwick", new_content="")
    )
    assert agent.memory()["human"] == "The user is."
    await run(
        agent, llm, call("core_memory_replace", label="human", old_content="nope", new_content="x"), say("ok")
    )
    failed = [json.loads(m.content) for m in agent.buffer if m.role == "tool" and '"Failed"' in m.content]
    assert "not found" in failed[-1]["message"]
    agent.state.block("persona").read_only = True
    await run(agent, llm, call("core_memory_append", label="persona", content="x"), say("ok"))
    failed = [json.loads(m.content) for m in agent.buffer if m.role == "tool" and '"Failed"' in m.content]
    assert "read-only" in failed[-1]["message"]
    await run(agent, llm, call("core_memory_append", label="diary", content="x"), say("ok"))
    failed = [json.loads(m.content) for m in agent.buffer if m.role == "tool" and '"Failed"' in m.content]
    assert "No core memory block labelled 'diary'" in failed[-1]["message"]


async def test_conversation_search_paging_and_no_results(make_agent, llm):
    agent, _ = await make_agent()
    for i in range(7):
        llm.queue(say(f"reply {i}"))
        await agent.send(f"zebra fact number {i}")
    result = await run(agent, llm, call("conversation_search", query="zebra"), text="search please")
    assert result["message"].startswith("Showing 5 of 7 results (page 0/1):")
    result = await run(agent, llm, call("conversation_search", query="zebra", page=1), text="next page")
    assert result["message"].startswith("Showing 2 of 7 results (page 1/1):")
    assert "zebra fact number" in result["message"]
    result = await run(agent, llm, call("conversation_search", query="okapi"), text="again")
    assert result["message"] == "No results found."


async def test_conversation_search_date(make_agent, llm):
    agent, _ = await make_agent()
    llm.queue(say("hello"))
    await agent.send("dated message")
    today = date.today().isoformat()
    result = await run(agent, llm, call("conversation_search_date", start_date=today, end_date=today))
    assert result["message"].startswith("Showing ")
    result = await run(
        agent, llm, call("conversation_search_date", start_date="2001-01-01", end_date="2001-01-02")
    )
    assert result["message"] == "No results found."
    await run(agent, llm, call("conversation_search_date", start_date="yesterday", end_date=today), say("ok"))
    failed = [json.loads(m.content) for m in agent.buffer if m.role == "tool" and '"Failed"' in m.content]
    assert "start_date" in failed[-1]["message"]


async def test_archival_insert_and_search(make_agent, llm):
    agent, _ = await make_agent()
    await run(agent, llm, call("archival_memory_insert", content="Chad's sister is called Maya."))
    await run(agent, llm, call("archival_memory_insert", content="The boat is named Petrel."))
    result = await run(agent, llm, call("archival_memory_search", query="what is the boat called"))
    assert result["message"].startswith("Showing 2 of 2 results (page 0/0):")
    assert "Petrel" in result["message"]
    assert agent.archival_count == 2
    result = await run(agent, llm, call("archival_memory_search", query="boat", page=3))
    assert result["message"] == "No results found."


async def test_pause_heartbeats_suppresses_requested_heartbeats(make_agent, llm):
    agent, rec = await make_agent()
    result = await run(agent, llm, call("pause_heartbeats", minutes=5))
    assert result["status"] == "OK" and "5 min" in result["message"]
    rec.clear()
    await run(agent, llm, call("archival_memory_insert", content="x", heartbeat=True))
    assert len(rec.of(ev.StepStarted)) == 1


async def test_long_results_are_cut(make_agent, llm, limits):
    agent, _ = await make_agent()
    for i in range(5):
        await agent.insert_archival(f"passage {i} " + "international " * 60)  # few tokens, many characters
    result = await run(agent, llm, call("archival_memory_search", query="passage"))
    assert "[truncated" in result["message"]
    assert len(result["message"]) < limits.function_result_chars + 100
