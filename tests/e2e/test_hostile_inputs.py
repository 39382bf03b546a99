"""What a hostile server or a careless user sends, through the whole stack: the step ends cleanly with a
visible outcome, nothing unsafe reaches the store, and the agent keeps working (after a restart too)."""

from __future__ import annotations

import json
import time

import pytest

from memgpt_tui import runtime
from memgpt_tui.model import events as ev
from memgpt_tui.model.errors import AgentError
from tests.e2e.test_wire_agent import converse, home, settings_for  # noqa: F401  (fixture)
from tests.fakes.openai_server import Reply

MB = 1 << 20


def errors(seen: list[ev.Event]) -> list[ev.Error]:
    return [e for e in seen if isinstance(e, ev.Error)]


def said(seen: list[ev.Event]) -> list[str]:
    return [e.text for e in seen if isinstance(e, ev.AssistantMessage)]


async def recall_texts(agent) -> list[str]:
    return [m.user_text() or m.content or "" for m in await agent.older_messages(None, 50)]


@pytest.fixture
async def agent(home, openai_fake):  # noqa: F811
    made = await runtime.create_agent(settings_for(openai_fake.base_url, max_retries=0), "hostile")
    yield made
    await made.close()


@pytest.mark.parametrize(
    "reply",
    [
        Reply.tool_call("send_message", {"message": "bad \ud800 half"}, content="thinking \ud800"),
        Reply.tool_call("core_memory_append", {"label": "human", "content": "likes \ud800 and \x00 NUL"}),
        Reply.tool_call("archival_memory_insert", {"content": "passage \udfff \x1b[2J"}),
        Reply.tool_call("send_\ud800message", {"message": "x"}),
    ],
    ids=["send_message", "core_memory_append", "archival_memory_insert", "function name"],
)
async def test_lone_surrogates_and_control_characters_are_cleaned(agent, openai_fake, reply):
    openai_fake.script(reply)
    seen = await converse(agent, "hi \ud800 there\x00")
    assert not errors(seen)
    assert "hi \ufffd there" in await recall_texts(agent)
    everything = json.dumps([m.model_dump(mode="json") for m in agent.buffer], ensure_ascii=False)
    assert "\x00" not in everything and "\x1b" not in everything
    everything.encode("utf-8")  # no lone surrogate left anywhere in view
    assert all("\ud800" not in v for v in agent.memory().values())
    openai_fake.script(Reply.tool_call("send_message", {"message": "still here"}))
    assert said(await converse(agent, "and now?")) == ["still here"]


@pytest.mark.parametrize("chars", [900_000, 3 * MB])
async def test_a_1mb_argument_fails_quickly_and_does_not_stick(home, agent, openai_fake, chars):  # noqa: F811
    """Under the reply's bound the call fails (a failure heartbeat); over it the reply is an error."""
    openai_fake.script(
        Reply.tool_call("archival_memory_insert", {"content": "x" * chars}, chunk_size=1 << 16),
        Reply.tool_call("send_message", {"message": "that was too long"}),
    )
    started = time.monotonic()
    seen = await converse(agent, "store this")
    assert time.monotonic() - started < 30
    if chars < MB:
        failed = [e for e in seen if isinstance(e, ev.FunctionReturned) and not e.ok]
        assert failed and "over the limit of 20,000" in failed[0].message
        assert said(seen) == ["that was too long"]
    else:
        assert "passed 1,048,576 characters" in errors(seen)[0].text
        openai_fake.unscript()
    assert max(len(m.model_dump_json()) for m in agent.buffer) < 30_000  # recall keeps no 1 MB call
    await agent.close()
    reopened = await runtime.open_agent(settings_for(openai_fake.base_url), "hostile")
    try:
        openai_fake.script(Reply.tool_call("send_message", {"message": "fine"}))
        assert said(await converse(reopened, "hello again")) == ["fine"]
    finally:
        await reopened.close()


SILENT = {
    "no choices": b'{"id": "c", "choices": []}',
    "empty choice": b'{"id": "c", "choices": [{}]}',
    "null content": b'{"choices": [{"message": {"role": "assistant", "content": null}}]}',
    "content_filter": b'{"choices": [{"message": {"content": null}, "finish_reason": "content_filter"}]}',
}


@pytest.mark.parametrize("name", list(SILENT))
async def test_a_silent_turn_is_a_notice_and_retry_answers_it(agent, openai_fake, name):
    agent.llm.stream = False
    openai_fake.script(Reply(raw=SILENT[name]))
    seen = await converse(agent, "are you there?")
    notices = [e.text for e in seen if isinstance(e, ev.Notice)]
    assert any("returned no reply" in n and "/retry" in n for n in notices), seen
    if name == "content_filter":
        assert "content filter" in notices[-1]
    assert agent.unanswered() == "are you there?"
    openai_fake.script(Reply.tool_call("send_message", {"message": "yes"}))
    retried: list[ev.Event] = []
    unsubscribe = agent.subscribe(retried.append)
    await agent.retry()
    unsubscribe()
    assert said(retried) == ["yes"]


async def test_thoughts_without_a_call_are_a_notice(agent, openai_fake):
    openai_fake.script(Reply.text("I could answer, but I will not call anything."))
    seen = await converse(agent, "hello?")
    assert any(isinstance(e, ev.Notice) and "sent no message" in e.text for e in seen)


async def test_an_error_inside_a_200_is_an_error_row(agent, openai_fake):
    openai_fake.script(Reply(raw=b'data: {"error": {"message": "model crashed"}}\n\ndata: [DONE]\n\n'))
    seen = await converse(agent, "hi")
    assert [e.text for e in errors(seen)] == ["The model server reported an error: model crashed"]


async def test_a_key_echoed_by_the_server_is_redacted(home, openai_fake):  # noqa: F811
    key = "sk-proj-CANARY0123456789abcdefghij"
    agent = await runtime.create_agent(settings_for(openai_fake.base_url, api_key=key), "keyed")
    try:
        openai_fake.script(Reply.failure(401, f"Incorrect API key provided: {key}.", "invalid_api_key"))
        seen = await converse(agent, "hi")
    finally:
        await agent.close()
    assert errors(seen) and key not in repr(seen) and "CANARY" not in repr(seen)
    assert "Incorrect API key provided: [redacted key]" in errors(seen)[0].text
    log = home / "logs"
    assert not log.exists() or all(key not in p.read_text() for p in log.glob("*"))


async def test_a_huge_paste_is_refused_with_its_size_and_the_limit(agent, openai_fake):
    before = agent.recall_count
    seen = await converse(agent, "y" * (5 * MB))
    [error] = errors(seen)
    assert "5.0 MB" in error.text and "100,000" in error.text and "Nothing was sent" in error.hint
    assert agent.recall_count == before and not openai_fake.chat_requests
    # Under the character limit but over the window: refused by its tokens.
    seen = await converse(agent, "word " * 15_000)
    [error] = errors(seen)
    assert "tokens" in error.text and "context window of 8,192" in error.text
    openai_fake.script(Reply.tool_call("send_message", {"message": "ok"}))
    assert said(await converse(agent, "short one")) == ["ok"]


async def test_an_edit_larger_than_the_limit_is_refused(agent, openai_fake):
    openai_fake.script(Reply.tool_call("send_message", {"message": "hi"}))
    await converse(agent, "hello")
    with pytest.raises(AgentError, match="over the limit"):
        await agent.rewrite("z" * MB)
    await agent.rewrite("edited \ud800")
    [last] = [c for m in agent.buffer for c in m.tool_calls][-1:]
    assert json.loads(last.arguments)["message"] == "edited \ufffd"


DEEP = '{"a":' * 5000 + "1" + "}" * 5000


@pytest.mark.parametrize("function_calling", ["native", "json"])
async def test_json_nested_too_deeply_fails_the_call_and_is_not_kept(home, openai_fake, function_calling):  # noqa: F811
    settings = settings_for(openai_fake.base_url, function_calling=function_calling)
    agent = await runtime.create_agent(settings, f"deep{function_calling}")
    try:
        deep = (
            Reply.tool_call("archival_memory_insert", DEEP)
            if function_calling == "native"
            else Reply.text('{"function": "archival_memory_insert", "params": ' + DEEP + "}")
        )
        ok = Reply.tool_call("send_message", {"message": "fine"})
        openai_fake.script(
            deep, ok if function_calling == "native" else Reply.json_call("send_message", {"message": "fine"})
        )
        seen = await converse(agent, "go deep")
        assert not [e for e in errors(seen) if "Unexpected" in e.text]
        assert said(seen)  # the failure went back to the model, which answered
        assert all(len(c.arguments) < 1000 for m in agent.buffer for c in m.tool_calls)
        assert all(len(m.content or "") < 5000 for m in agent.buffer)
    finally:
        await agent.close()
    reopened = await runtime.open_agent(settings, f"deep{function_calling}")
    await reopened.close()
