"""The OpenAI wire path end to end: the real openai client against the loopback fake."""

import asyncio
import json
import time
from typing import Any

import pytest

from memgpt_tui.llm.base import LLMResponse
from memgpt_tui.llm.openai_backend import OpenAIBackend
from memgpt_tui.llm.tokenizers import EstimateTokenizer
from memgpt_tui.model.errors import AuthError, BackendUnavailable, ContextOverflowError, LLMError
from tests.fakes.openai_server import FakeOpenAIServer, Reply, unused_port

MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "You are Sam."},
    {"role": "user", "content": '{"type": "user_message", "message": "hi"}'},
]


def backend(server: FakeOpenAIServer, **overrides: Any) -> OpenAIBackend:
    settings: dict[str, Any] = {
        "name": "openai-compatible",
        "model": "fake-model",
        "base_url": server.base_url,
        "tokenizer": EstimateTokenizer(),
        "retry_base_delay": 0.001,
        "retry_max_delay": 0.01,
        **overrides,
    }
    return OpenAIBackend(**settings)


class Tokens:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def __call__(self, channel: str, text: str) -> None:
        self.events.append((channel, text))

    def text(self, channel: str) -> str:
        return "".join(t for c, t in self.events if c == channel)

    def count(self, channel: str) -> int:
        return sum(1 for c, _ in self.events if c == channel)


async def test_native_tools_stream_thoughts_and_message(openai_fake: FakeOpenAIServer, tools: list) -> None:
    message = 'Hello "Ada" — nice to meet you 😀\nHow are you?'
    openai_fake.script(
        Reply.tool_call(
            "send_message", {"message": message}, content="The user said hi. Greet back.", prompt_tokens=1234
        )
    )
    llm, tokens = backend(openai_fake), Tokens()
    reply = await llm.complete(MESSAGES, tools, on_token=tokens)

    assert reply.content == "The user said hi. Greet back."
    assert [(c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [
        ("send_message", {"message": message})
    ]
    assert reply.tool_calls[0].id == "call_fake0"
    assert reply.prompt_tokens == 1234 and reply.completion_tokens == 7
    assert reply.finish_reason == "tool_calls"
    assert tokens.text("thought") == reply.content and tokens.count("thought") > 3
    assert tokens.text("message") == message and tokens.count("message") > 3

    (sent,) = openai_fake.chat_requests
    assert sent["messages"] == MESSAGES
    assert sent["tools"] == tools
    assert sent["tool_choice"] == "required"
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert "response_format" not in sent
    await llm.aclose()


async def test_streamed_replies_reuse_one_connection(openai_fake: FakeOpenAIServer, tools: list) -> None:
    llm = backend(openai_fake)
    for _ in range(3):
        await llm.complete(MESSAGES, tools, on_token=Tokens())
    assert len({r.client_port for r in openai_fake.requests}) == 1
    await llm.aclose()


async def test_message_tokens_only_for_send_message(openai_fake: FakeOpenAIServer, tools: list) -> None:
    openai_fake.script(Reply.tool_call("archival_memory_search", {"query": "tea", "message": "x"}))
    tokens = Tokens()
    reply = await backend(openai_fake).complete(MESSAGES, tools, on_token=tokens)
    assert reply.tool_calls[0].name == "archival_memory_search"
    assert reply.content is None
    assert tokens.events == []


async def test_several_tool_calls_and_plain_content(openai_fake: FakeOpenAIServer, tools: list) -> None:
    openai_fake.script(
        Reply(
            tool_calls=[("archival_memory_search", '{"query": "a"}'), ("send_message", '{"message": "b"}')]
        ),
        Reply.text("Just thinking out loud."),
    )
    llm = backend(openai_fake)
    both = await llm.complete(MESSAGES, tools)
    assert [c.name for c in both.tool_calls] == ["archival_memory_search", "send_message"]
    plain = await llm.complete(MESSAGES, tools, require_tool=False)
    assert plain.content == "Just thinking out loud." and plain.tool_calls == []
    assert openai_fake.chat_requests[1]["tool_choice"] == "auto"


async def test_without_streaming(openai_fake: FakeOpenAIServer, tools: list) -> None:
    openai_fake.script(Reply.tool_call("send_message", {"message": "hi"}, content="ok", prompt_tokens=99))
    tokens = Tokens()
    reply = await backend(openai_fake, stream=False).complete(MESSAGES, tools, on_token=tokens)
    assert reply.content == "ok" and reply.tool_calls[0].name == "send_message"
    assert reply.prompt_tokens == 99
    assert "stream" not in openai_fake.chat_requests[0]


async def test_server_refusing_required_tool_choice_falls_back_to_auto(
    openai_fake: FakeOpenAIServer, tools: list
) -> None:
    openai_fake.reject = {"tool_choice"}
    llm = backend(openai_fake)
    assert (await llm.complete(MESSAGES, tools)).tool_calls
    assert (await llm.complete(MESSAGES, tools)).tool_calls
    assert [r["tool_choice"] for r in openai_fake.chat_requests] == ["required", "auto", "auto"]


async def test_server_refusing_stream_options_still_streams(
    openai_fake: FakeOpenAIServer, tools: list
) -> None:
    openai_fake.reject = {"stream_options"}
    reply = await backend(openai_fake).complete(MESSAGES, tools)
    assert reply.tool_calls and reply.prompt_tokens is None
    assert ["stream_options" in r for r in openai_fake.chat_requests] == [True, False]


async def test_environment_configures_the_openai_backend(
    openai_fake: FakeOpenAIServer, tools: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", openai_fake.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    openai_fake.require_key = "sk-from-env"
    llm = OpenAIBackend(name="openai", model="gpt-4o-mini")
    assert llm.base_url == openai_fake.base_url
    assert (await llm.complete(MESSAGES, tools)).tool_calls
    assert openai_fake.requests[-1].headers["authorization"] == "Bearer sk-from-env"


async def test_local_servers_need_no_key(openai_fake: FakeOpenAIServer, tools: list, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert (await backend(openai_fake).complete(MESSAGES, tools)).tool_calls


def test_openai_without_a_key_is_an_auth_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(AuthError) as caught:
        OpenAIBackend(name="openai", model="gpt-4o")
    assert "OPENAI_API_KEY" in caught.value.hint


# JSON mode


async def test_json_mode_wire_format_and_streaming(openai_fake: FakeOpenAIServer, tools: list) -> None:
    openai_fake.script(
        Reply.json_call("core_memory_append", {"label": "human", "content": "Ada"}, "Noting her name.", True),
        Reply.json_call(
            "send_message", {"message": "Nice to meet you, Ada!"}, "Greet her.", prompt_tokens=321
        ),
    )
    llm, tokens = backend(openai_fake, function_calling="json"), Tokens()
    first = await llm.complete(MESSAGES, tools, on_token=tokens)
    assert first.parse_error is None
    assert json.loads(first.tool_calls[0].arguments) == {
        "label": "human",
        "content": "Ada",
        "request_heartbeat": True,
    }

    history = [
        *MESSAGES,
        {
            "role": "assistant",
            "content": first.content,
            "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in first.tool_calls
            ],
        },
        {"role": "tool", "tool_call_id": first.tool_calls[0].id, "content": '{"status": "OK"}'},
    ]
    second = await llm.complete(history, tools, on_token=tokens)
    assert second.content == "Greet her."
    assert json.loads(second.tool_calls[0].arguments) == {"message": "Nice to meet you, Ada!"}
    assert second.prompt_tokens == 321
    assert tokens.text("thought") == "Noting her name.Greet her."
    assert tokens.text("message") == "Nice to meet you, Ada!"

    sent = openai_fake.chat_requests[1]
    assert "tools" not in sent and "tool_choice" not in sent
    assert sent["response_format"]["type"] == "json_schema"
    assert len(sent["response_format"]["json_schema"]["schema"]["anyOf"]) == 3
    system = sent["messages"][0]
    assert system["role"] == "system" and "## core_memory_append" in system["content"]
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
    assert json.loads(sent["messages"][2]["content"])["function"] == "core_memory_append"
    assert json.loads(sent["messages"][3]["content"]) == {
        "type": "function_result",
        "function": "core_memory_append",
        "result": {"status": "OK"},
    }


async def test_json_mode_for_llama_cpp_python_with_gemma(openai_fake: FakeOpenAIServer, tools: list) -> None:
    llm = backend(
        openai_fake,
        name="embedded",
        function_calling="json",
        json_response_format="json_object",
        fold_system=True,
    )
    reply = await llm.complete(MESSAGES, tools)
    assert reply.tool_calls[0].name == "send_message"
    sent = openai_fake.chat_requests[0]
    assert sent["response_format"]["type"] == "json_object"
    assert sent["response_format"]["schema"]["anyOf"][0]["properties"]["function"]["const"] == "send_message"
    assert [m["role"] for m in sent["messages"]] == ["user"]
    assert sent["messages"][0]["content"].startswith("You are Sam.")
    assert sent["messages"][0]["content"].endswith('"message": "hi"}')


async def test_json_mode_without_response_format(openai_fake: FakeOpenAIServer, tools: list) -> None:
    await backend(openai_fake, function_calling="json", json_response_format="none").complete(MESSAGES, tools)
    assert "response_format" not in openai_fake.chat_requests[0]


async def test_server_refusing_response_format_gets_prompt_only(
    openai_fake: FakeOpenAIServer, tools: list
) -> None:
    openai_fake.reject = {"response_format"}
    reply = await backend(openai_fake, function_calling="json").complete(MESSAGES, tools)
    assert reply.tool_calls
    assert ["response_format" in r for r in openai_fake.chat_requests] == [True, False]


@pytest.mark.parametrize(
    "text",
    [
        '```json\n{"inner_thoughts": "hi", "function": "send_message", "params": {"message": "yo"}}\n```',
        'Here you go: {"inner_thoughts": "hi", "function": "send_message", "params": {"message": "yo"},}',
        "{'inner_thoughts': 'hi', 'function': 'send_message', 'params': {'message': 'yo'}, 'request_heartbeat': False}",
    ],
)
async def test_json_mode_repairs_near_json(openai_fake: FakeOpenAIServer, tools: list, text: str) -> None:
    openai_fake.script(Reply.text(text))
    reply = await backend(openai_fake, function_calling="json").complete(MESSAGES, tools)
    assert reply.parse_error is None
    assert (reply.content, reply.tool_calls[0].name) == ("hi", "send_message")
    assert json.loads(reply.tool_calls[0].arguments) == {"message": "yo"}


async def test_json_mode_truncated_reply_is_closed(openai_fake: FakeOpenAIServer, tools: list) -> None:
    openai_fake.script(
        Reply.text(
            '{"inner_thoughts": "hi", "function": "send_message", "params": {"message": "Hel',
            finish_reason="length",
        )
    )
    reply = await backend(openai_fake, function_calling="json").complete(MESSAGES, tools)
    assert json.loads(reply.tool_calls[0].arguments) == {"message": "Hel"}
    assert reply.finish_reason == "length"


@pytest.mark.parametrize(
    ("text", "finish", "problem"),
    [
        ("I am a small model and forgot the format.", "stop", "not a JSON function call"),
        ('{"inner_thoughts": "hmm", "params": {"message": "x"}}', "stop", 'no "function"'),
        ('{"inner_thoughts": "hmm", "function": ["send_message"]}', "stop", '"function" must be'),
        ('{"inner_thoughts": "I was going to', "length", "cut off at the output token limit"),
    ],
)
async def test_json_mode_unreadable_reply_is_a_parse_error(
    openai_fake: FakeOpenAIServer, tools: list, text: str, finish: str, problem: str
) -> None:
    openai_fake.script(Reply.text(text, finish_reason=finish))
    reply = await backend(openai_fake, function_calling="json").complete(MESSAGES, tools)
    assert isinstance(reply, LLMResponse)
    assert reply.parse_error is not None and problem in reply.parse_error
    assert reply.raw == text and reply.tool_calls == []


# Failures and retries


@pytest.mark.parametrize(
    "failure",
    [Reply.rate_limited(), Reply.server_error(500), Reply.server_error(503), Reply.server_error(502)],
    ids=["429", "500", "503", "502"],
)
async def test_transient_failures_are_retried(
    openai_fake: FakeOpenAIServer, tools: list, failure: Reply
) -> None:
    openai_fake.script(failure, failure, Reply.tool_call("send_message", {"message": "made it"}))
    reply = await backend(openai_fake, max_retries=3).complete(MESSAGES, tools)
    assert json.loads(reply.tool_calls[0].arguments) == {"message": "made it"}
    assert len(openai_fake.chat_requests) == 3


async def test_timeout_is_retried(openai_fake: FakeOpenAIServer, tools: list) -> None:
    openai_fake.script(
        Reply.tool_call("send_message", {"message": "late"}, delay=2.0),
        Reply.tool_call("send_message", {"message": "on time"}),
    )
    reply = await backend(openai_fake, timeout=0.3).complete(MESSAGES, tools)
    assert json.loads(reply.tool_calls[0].arguments) == {"message": "on time"}
    assert len(openai_fake.chat_requests) == 2


async def test_timeouts_exhausted(openai_fake: FakeOpenAIServer, tools: list) -> None:
    openai_fake.script(*[Reply(delay=1.0)] * 2)
    with pytest.raises(LLMError) as caught:
        await backend(openai_fake, timeout=0.2, max_retries=1).complete(MESSAGES, tools)
    assert (
        caught.value.retryable and "in time" in str(caught.value) and "request_timeout" in caught.value.hint
    )


async def test_retries_exhausted(openai_fake: FakeOpenAIServer, tools: list) -> None:
    openai_fake.script(
        *[Reply.server_error(500)] * 3, Reply.tool_call("send_message", {"message": "too late"})
    )
    with pytest.raises(LLMError) as caught:
        await backend(openai_fake, max_retries=2).complete(MESSAGES, tools)
    error = caught.value
    assert type(error) is LLMError and error.retryable
    assert "500" in str(error) and "after 3 attempts" in str(error)
    assert len(openai_fake.chat_requests) == 3
    assert openai_fake.pending == 1


async def test_retry_after_header_is_honoured_within_the_cap(
    openai_fake: FakeOpenAIServer, tools: list
) -> None:
    openai_fake.script(
        Reply.rate_limited(headers={"retry-after-ms": "150"}),
        Reply.tool_call("send_message", {"message": "x"}),
    )
    started = time.monotonic()
    await backend(openai_fake, retry_max_delay=0.5).complete(MESSAGES, tools)
    assert time.monotonic() - started >= 0.15


async def test_stream_cut_before_any_token_is_retried(openai_fake: FakeOpenAIServer, tools: list) -> None:
    openai_fake.script(
        Reply.tool_call("send_message", {"message": "x"}, content="thinking", cut_after=3),
        Reply.tool_call("send_message", {"message": "whole"}),
    )
    reply = await backend(openai_fake).complete(MESSAGES, tools)
    assert json.loads(reply.tool_calls[0].arguments) == {"message": "whole"}


async def test_stream_cut_after_tokens_were_shown_is_not_retried(
    openai_fake: FakeOpenAIServer, tools: list
) -> None:
    openai_fake.script(
        Reply.tool_call("send_message", {"message": "x"}, content="thinking hard", cut_after=3),
        Reply.tool_call("send_message", {"message": "whole"}),
    )
    tokens = Tokens()
    with pytest.raises(LLMError) as caught:
        await backend(openai_fake).complete(MESSAGES, tools, on_token=tokens)
    assert caught.value.retryable and tokens.events
    assert len(openai_fake.chat_requests) == 1


async def test_connection_refused_names_the_url_and_the_way_out(tools: list) -> None:
    url = f"http://127.0.0.1:{unused_port()}/v1"
    llm = OpenAIBackend(
        name="openai-compatible",
        model="m",
        base_url=url,
        tokenizer=EstimateTokenizer(),
        retry_base_delay=30.0,
    )
    with pytest.raises(BackendUnavailable) as caught:
        # A retry would sleep 30 s first: refused is not worth waiting on.
        await asyncio.wait_for(llm.complete(MESSAGES, tools), timeout=20)
    assert url in str(caught.value)
    assert "server running" in caught.value.hint and "--backend" in caught.value.hint


async def test_unauthorized_is_an_auth_error_without_retry(
    openai_fake: FakeOpenAIServer, tools: list
) -> None:
    openai_fake.script(Reply.unauthorized())
    with pytest.raises(AuthError) as caught:
        await backend(openai_fake).complete(MESSAGES, tools)
    assert not caught.value.retryable
    assert "OPENAI_API_KEY" in caught.value.hint and "401" in str(caught.value)
    assert len(openai_fake.chat_requests) == 1


async def test_wrong_key_against_a_server_that_checks(openai_fake: FakeOpenAIServer, tools: list) -> None:
    openai_fake.require_key = "sk-right"
    with pytest.raises(AuthError):
        await backend(openai_fake, api_key="sk-wrong").complete(MESSAGES, tools)
    assert (await backend(openai_fake, api_key="sk-right").complete(MESSAGES, tools)).tool_calls


@pytest.mark.parametrize(
    "failure",
    [
        Reply.overflow(),
        Reply.failure(
            400,
            "the request exceeds the available context size, try increasing it",
            kind="exceed_context_size_error",
        ),
        Reply.failure(
            400,
            "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.",
            kind="BadRequestError",
        ),
        Reply.failure(
            400, "Requested tokens (9000) exceed context window of 8192", kind="invalid_request_error"
        ),
    ],
    ids=["openai", "llama.cpp", "vllm", "llama-cpp-python"],
)
async def test_context_overflow(openai_fake: FakeOpenAIServer, tools: list, failure: Reply) -> None:
    openai_fake.script(failure, Reply.tool_call("send_message", {"message": "x"}))
    with pytest.raises(ContextOverflowError):
        await backend(openai_fake).complete(MESSAGES, tools)
    assert len(openai_fake.chat_requests) == 1


async def test_token_rate_limit_is_not_an_overflow(openai_fake: FakeOpenAIServer, tools: list) -> None:
    quota = Reply.failure(
        429, "Rate limit reached on tokens per min (TPM). Too many tokens in prompt.", "rate_limit_exceeded"
    )
    openai_fake.script(quota, quota)
    with pytest.raises(LLMError) as caught:
        await backend(openai_fake, max_retries=1).complete(MESSAGES, tools)
    assert not isinstance(caught.value, ContextOverflowError)


async def test_other_bad_requests_are_not_retried(openai_fake: FakeOpenAIServer, tools: list) -> None:
    openai_fake.script(Reply.failure(400, "Invalid value for 'messages'.", kind="invalid_request_error"))
    with pytest.raises(LLMError) as caught:
        await backend(openai_fake).complete(MESSAGES, tools)
    assert not caught.value.retryable and "Invalid value" in str(caught.value)
    assert len(openai_fake.chat_requests) == 1


async def test_max_tokens_is_sent_when_set(openai_fake, tools):
    from memgpt_tui.llm.openai_backend import OpenAIBackend
    from tests.fakes.openai_server import Reply

    backend = OpenAIBackend(
        model="fake-model", name="openai-compatible", base_url=openai_fake.base_url, max_tokens=512
    )
    openai_fake.script(Reply.tool_call("send_message", {"message": "hi"}, content="t"))
    await backend.complete([{"role": "user", "content": "hi"}], tools)
    assert openai_fake.chat_requests[-1]["max_tokens"] == 512
    await backend.aclose()


async def test_a_stream_held_open_after_done_is_let_go(tools: list) -> None:
    """A server that announces more than it sends after [DONE] and keeps the socket open: the reply
    is whole, and the call returns without waiting for the rest."""
    event = {"id": "c", "choices": [{"index": 0, "delta": {"content": "thinking"}, "finish_reason": "stop"}]}
    body = f"data: {json.dumps(event)}\n\ndata: [DONE]\n\n".encode()
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 100000\r\n\r\n"

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(head + body)
        await writer.drain()
        await asyncio.sleep(30)

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    llm = OpenAIBackend(name="openai-compatible", model="m", base_url=f"http://127.0.0.1:{port}/v1",
                        tokenizer=EstimateTokenizer(), max_retries=0)  # fmt: skip
    start = time.monotonic()
    reply = await llm.complete(MESSAGES, tools, require_tool=False)
    assert reply.content == "thinking" and time.monotonic() - start < 5
    await llm.aclose()
    server.close()
