"""Replies that are not chat completions: each class a hostile server was seen to send becomes a
``MalformedReply`` (an ``LLMError`` with a hint), or a readable response, never another exception."""

from __future__ import annotations

import json
import time

import pytest

from memgpt_tui.llm.api_client import MAX_REPLY_CHARS
from memgpt_tui.llm.wire import MalformedReply
from memgpt_tui.model.errors import LLMError
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.llm.test_openai_backend import MESSAGES, backend

TOOLS = [{"type": "function", "function": {"name": "send_message", "parameters": {"type": "object"}}}]


def sse(*events: object) -> Reply:
    lines = [e if isinstance(e, bytes) else json.dumps(e).encode() for e in events]
    return Reply(raw=b"".join(b"data: " + line + b"\n\n" for line in lines) + b"data: [DONE]\n\n")


def chunk(delta: object, **choice: object) -> dict:
    return {"id": "c", "choices": [{"index": 0, "delta": delta, **choice}]}


def call_delta(**part: object) -> dict:
    return chunk({"tool_calls": [{"index": 0, "id": "call_1", **part}]})


MALFORMED_STREAMS = {
    "number": sse(b"5"),
    "string": sse(b'"text"'),
    "null": sse(b"null"),
    "list": sse(b"[]"),
    "truncated": sse(b'{"choices": [{"delta": {"content": "cut'),
    "garbage": sse(b"<html>502 Bad Gateway</html>"),
    "huge number": sse(b"1" * 5000),
    "deep nesting": sse(b"[" * 100_000 + b"]" * 100_000),
    "choices a string": sse({"choices": "all of them"}),
    "choices [null]": sse({"choices": [None]}),
    "choices [5]": sse({"choices": [5]}),
    "delta a string": sse(chunk("hello")),
    "content a number": sse(chunk({"content": 5})),
    "content a list": sse(chunk({"content": ["a"]})),
    "tool_calls a dict": sse(chunk({"tool_calls": {"index": 0}})),
    "tool_calls [5]": sse(chunk({"tool_calls": [5]})),
    "function a string": sse(call_delta(function="send_message")),
    "arguments a number": sse(call_delta(function={"name": "send_message", "arguments": 5})),
    "name a number": sse(call_delta(function={"name": 5})),
    "name a list": sse(call_delta(function={"name": ["send_message"]})),
    "id a number": sse(call_delta(id=5, function={"name": "send_message"})),
    "id a dict": sse(call_delta(id={}, function={"name": "send_message"})),
    "index a word": sse(chunk({"tool_calls": [{"index": "first", "function": {"name": "x"}}]})),
    "index huge": sse(chunk({"tool_calls": [{"index": 10**30, "function": {"name": "x"}}]})),
}


def whole(message: object) -> bytes:
    return json.dumps({"id": "c", "choices": [{"index": 0, "message": message}]}).encode()


def whole_call(**call: object) -> bytes:
    return whole({"content": None, "tool_calls": [{"id": "call_1", "type": "function", **call}]})


MALFORMED_BODIES = {
    "number": b"5",
    "string": b'"text"',
    "null": b"null",
    "list": b"[]",
    "empty": b"",
    "truncated": b'{"choices": [{"message": {"content": "cut',
    "garbage": b"<html>502 Bad Gateway</html>",
    "huge number": b"1" * 5000,
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "choices a string": b'{"choices": "all"}',
    "choices [null]": b'{"choices": [null]}',
    "choices [5]": b'{"choices": [5]}',
    "message a string": whole("hello"),
    "content a number": whole({"content": 5}),
    "tool_calls a dict": whole({"tool_calls": {"id": "x"}}),
    "function a string": whole_call(function="send_message"),
    "name a number": whole_call(function={"name": 5, "arguments": "{}"}),
    "arguments a number": whole_call(function={"name": "send_message", "arguments": 5}),
    "id a number": whole_call(id=5, function={"name": "send_message", "arguments": "{}"}),
}


async def refused(server: FakeOpenAIServer, reply: Reply, stream: bool) -> MalformedReply:
    server.script(reply)
    llm = backend(server, stream=stream, max_retries=0)
    try:
        with pytest.raises(MalformedReply) as caught:
            await llm.complete(MESSAGES, TOOLS)
    finally:
        await llm.aclose()
    assert caught.value.hint and "malformed reply" in str(caught.value)
    return caught.value


@pytest.mark.parametrize("name", list(MALFORMED_STREAMS))
async def test_a_malformed_stream_is_an_error_with_a_hint(openai_fake: FakeOpenAIServer, name):
    await refused(openai_fake, MALFORMED_STREAMS[name], stream=True)


@pytest.mark.parametrize("name", list(MALFORMED_BODIES))
async def test_a_malformed_whole_reply_is_an_error_with_a_hint(openai_fake: FakeOpenAIServer, name):
    await refused(openai_fake, Reply(raw=MALFORMED_BODIES[name]), stream=False)


async def test_lenient_where_compatible_servers_differ(openai_fake: FakeOpenAIServer):
    """Arguments sent as an object, string indexes, null fields and nonsense usage are read."""
    openai_fake.script(
        sse(
            chunk({"content": None}),
            chunk({"tool_calls": [{"index": "0", "id": None, "function": {"name": "send_message"}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": {"message": "hi"}}}]}),
            {"choices": None, "usage": "lots"},
        )
    )
    llm = backend(openai_fake)
    try:
        response = await llm.complete(MESSAGES, TOOLS)
    finally:
        await llm.aclose()
    assert [(c.name, json.loads(c.arguments)) for c in response.tool_calls] == [
        ("send_message", {"message": "hi"})
    ]
    assert response.prompt_tokens is None


@pytest.mark.parametrize("stream", [True, False])
async def test_an_error_object_inside_a_200_is_the_servers_error(openai_fake: FakeOpenAIServer, stream):
    error = {"error": {"message": "upstream exploded", "type": "server_error"}}
    openai_fake.script(sse(error) if stream else Reply(raw=json.dumps(error).encode()))
    llm = backend(openai_fake, stream=stream, max_retries=0)
    try:
        with pytest.raises(LLMError, match="upstream exploded"):
            await llm.complete(MESSAGES, TOOLS)
    finally:
        await llm.aclose()


async def test_a_raw_nul_and_invalid_utf8_in_a_stream_are_read(openai_fake: FakeOpenAIServer):
    openai_fake.script(sse(b'{"choices":[{"delta":{"content":"a\x00b \xff c"}}]}'))
    llm = backend(openai_fake)
    try:
        response = await llm.complete(MESSAGES, TOOLS)
    finally:
        await llm.aclose()
    assert response.content is not None and response.content.startswith("a\x00b")  # the engine cleans it


async def test_an_oversized_reply_is_refused_quickly(openai_fake: FakeOpenAIServer):
    arguments = json.dumps({"message": "x" * (MAX_REPLY_CHARS + 10)})
    openai_fake.script(Reply.tool_call("send_message", arguments, chunk_size=1 << 16))
    llm = backend(openai_fake, max_retries=0)
    started = time.monotonic()
    try:
        with pytest.raises(MalformedReply, match="passed"):
            await llm.complete(MESSAGES, TOOLS, on_token=lambda channel, text: None)
    finally:
        await llm.aclose()
    assert time.monotonic() - started < 10


async def test_a_long_streamed_message_is_not_reparsed_per_token(openai_fake: FakeOpenAIServer):
    """A 500 KB send_message streamed in small pieces: shown while it is short, read whole at the end."""
    text = "word " * 100_000  # far past what is shown as it streams
    openai_fake.script(Reply.tool_call("send_message", {"message": text}, chunk_size=16))
    llm = backend(openai_fake)
    shown: list[str] = []
    started = time.monotonic()
    try:
        response = await llm.complete(MESSAGES, TOOLS, on_token=lambda channel, piece: shown.append(piece))
    finally:
        await llm.aclose()
    assert time.monotonic() - started < 20
    assert json.loads(response.tool_calls[0].arguments)["message"] == text
    assert text.startswith("".join(shown))
