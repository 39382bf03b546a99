"""The whole stack on the wire: runtime -> agent -> real HTTP client -> OpenAI-compatible fake on loopback."""

from __future__ import annotations

import json

import pytest

from memgpt_tui import runtime
from memgpt_tui.config import Settings
from memgpt_tui.model import events as ev
from tests.fakes.openai_server import Reply, unused_port


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMGPT_TUI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return tmp_path / "home"


def settings_for(url: str, **kw) -> Settings:
    base = {"backend": "openai-compatible", "base_url": url, "model": "fake-model", "no_verify": True}
    return Settings.load(**{**base, **kw})


async def converse(agent, text: str) -> list[ev.Event]:
    seen: list[ev.Event] = []
    unsubscribe = agent.subscribe(seen.append)
    try:
        await agent.send(text)
    finally:
        unsubscribe()
    return seen


async def test_native_tools_streaming_round_trip(home, openai_fake):
    agent = await runtime.create_agent(settings_for(openai_fake.base_url), "wire")
    try:
        openai_fake.script(
            Reply.tool_call(
                "core_memory_append",
                {"label": "human", "content": "Name: Ada", "request_heartbeat": True},
                content="Save her name.",
            ),
            Reply.tool_call("send_message", {"message": "Nice to meet you, Ada!"}, content="Now greet her."),
        )
        seen = await converse(agent, "Hi, I'm Ada")
        request = openai_fake.chat_requests[0]
        assert request["stream"] is True
        assert {t["function"]["name"] for t in request["tools"]} >= {"send_message", "archival_memory_search"}
        assert request["messages"][0]["role"] == "system"
        assert json.loads(request["messages"][-1]["content"])["message"] == "Hi, I'm Ada"
        # The heartbeat step saw the function result.
        second = openai_fake.chat_requests[1]["messages"]
        assert second[-2]["role"] == "tool" and json.loads(second[-1]["content"])["type"] == "heartbeat"
        assert [e.text for e in seen if isinstance(e, ev.AssistantMessage)] == ["Nice to meet you, Ada!"]
        assert (
            "".join(e.text for e in seen if isinstance(e, ev.Token) and e.channel == "message")
            == "Nice to meet you, Ada!"
        )
        assert agent.memory()["human"].endswith("Name: Ada")
        ctx = [e for e in seen if isinstance(e, ev.ContextChanged)][-1]
        assert ctx.breakdown.tools > 0 and ctx.used > 0
    finally:
        await agent.close()


async def test_json_mode_round_trip(home, openai_fake):
    agent = await runtime.create_agent(
        settings_for(openai_fake.base_url, function_calling="json"), "jsonwire"
    )
    try:
        openai_fake.script(
            Reply.json_call("send_message", {"message": "Hello from JSON mode"}, thoughts="Reply.")
        )
        seen = await converse(agent, "hello")
        request = openai_fake.chat_requests[0]
        assert "tools" not in request
        assert request["response_format"]["type"] in ("json_schema", "json_object")
        assert "archival_memory_search" in request["messages"][0]["content"]
        assert [e.text for e in seen if isinstance(e, ev.AssistantMessage)] == ["Hello from JSON mode"]
        # Broken output is a failure heartbeat, never a crash.
        openai_fake.script(
            Reply.text('{"inner_thoughts": "oops", "function": "send_mess'),
            Reply.json_call("send_message", {"message": "ok"}),
        )
        seen = await converse(agent, "again")
        assert [e.reason for e in seen if isinstance(e, ev.StepStarted)] == ["user", "failure"]
    finally:
        await agent.close()


async def test_overflow_error_recovers_with_a_summary(home, openai_fake):
    agent = await runtime.create_agent(settings_for(openai_fake.base_url), "overflow")
    try:
        for i in range(4):
            openai_fake.script(Reply.tool_call("send_message", {"message": f"r{i}"}, content="t"))
            await converse(agent, f"message {i}")
        openai_fake.script(
            Reply.overflow(),
            Reply.text("We talked about four numbered messages."),  # the summariser
            Reply.tool_call("send_message", {"message": "still here"}, content="t"),
        )
        seen = await converse(agent, "one more")
        assert any(isinstance(e, ev.Summarized) for e in seen)
        assert agent.state.summary == "We talked about four numbered messages."
        assert [e.text for e in seen if isinstance(e, ev.AssistantMessage)] == ["still here"]
    finally:
        await agent.close()


async def test_retries_then_success(home, openai_fake):
    agent = await runtime.create_agent(settings_for(openai_fake.base_url), "flaky")
    agent.llm.retry_base_delay = agent.llm.retry_max_delay = 0.01
    try:
        openai_fake.script(
            Reply.rate_limited(),
            Reply.server_error(503),
            Reply.tool_call("send_message", {"message": "made it"}, content="t"),
        )
        seen = await converse(agent, "hello?")
        assert [e.text for e in seen if isinstance(e, ev.AssistantMessage)] == ["made it"]
        assert len(openai_fake.chat_requests) == 3
    finally:
        await agent.close()


async def test_connection_refused_is_a_clear_error_and_loses_nothing(home):
    url = f"http://127.0.0.1:{unused_port()}/v1"
    agent = await runtime.create_agent(settings_for(url), "offline")
    try:
        seen = await converse(agent, "anyone there?")
        error = next(e for e in seen if isinstance(e, ev.Error))
        assert url.split("/v1")[0] in error.text or url in error.hint
        assert agent.unanswered() == "anyone there?"
        assert agent.store.search_messages("anyone", 0, 5).total == 1
    finally:
        await agent.close()
