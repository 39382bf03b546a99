"""Completion mode against a loopback completions server: the request a wrapper makes, the reply
read back as one call, the constraint fallback when the server rejects a grammar."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from memgpt_tui.cli import build_parser, settings_from
from memgpt_tui.config import ConfigError, Settings
from memgpt_tui.engine.functions import TOOL_SCHEMAS
from memgpt_tui.llm.api_client import MAX_REPLY_CHARS
from memgpt_tui.llm.completion import CompletionBackend, WrapperLayout
from memgpt_tui.llm.embedded import DEFAULT_WRAPPER
from memgpt_tui.llm.factory import build_backend
from memgpt_tui.llm.grammar import PRIMER
from memgpt_tui.llm.tokenizers import EstimateTokenizer
from memgpt_tui.llm.wire import MalformedReply
from memgpt_tui.llm.wrappers import get
from memgpt_tui.model.errors import LLMError
from memgpt_tui.model.state import AgentConfig
from tests.fakes.completion_server import Failure, FakeCompletionServer

CONTEXT = [
    {"role": "system", "content": "You are MemGPT.\n<human>\nFirst name: Ada\n</human>"},
    {"role": "user", "content": json.dumps({"type": "user_message", "message": "I live in Oslo."})},
]
CALL = (
    '{"inner_thoughts": "A fact: I save it.", "function": "core_memory_append", '
    '"params": {"label": "human", "content": "Ada lives in Oslo."}, "request_heartbeat": true}'
)
# What a model writes under the grammar: the prompt already ends with the reply's first words.
CONTINUED = CALL.removeprefix(PRIMER)


@pytest.fixture
def server():
    server = FakeCompletionServer().start()
    yield server
    server.stop()


def backend(server: FakeCompletionServer, wrapper: str = "transcript", **overrides: Any) -> CompletionBackend:
    settings: dict[str, Any] = {"max_tokens": 200, "max_retries": 0, **overrides}
    return CompletionBackend(
        name="openai-compatible",
        model="local",
        base_url=server.base_url,
        wrapper=get(wrapper),
        tokenizer=EstimateTokenizer(),
        context_window=8192,
        **settings,
    )


async def test_the_request_is_the_rendered_prompt_with_a_grammar_and_the_prompt_cache(server):
    server.script(CONTINUED)
    llm = backend(server)
    tokens: list[tuple[str, str]] = []
    response = await llm.complete(CONTEXT, TOOL_SCHEMAS, on_token=lambda ch, text: tokens.append((ch, text)))
    await llm.aclose()
    [body] = server.requests
    assert body["prompt"] == get("transcript").prompt(CONTEXT, TOOL_SCHEMAS)
    assert body["prompt"].endswith('USER: I live in Oslo.\nASSISTANT: {"inner_thoughts": "')
    assert body["cache_prompt"] is True and body["max_tokens"] == 200 and body["stream"] is True
    assert body["stop"] == ["\nUSER:", "\nSYSTEM:", "\nFUNCTION RETURN:"]
    assert body["grammar"].startswith('root ::= thoughts ", \\"function\\": "')
    assert "archival-memory-insert" not in body["grammar"]  # the transcript offers fewer functions
    [call] = response.tool_calls
    assert call.name == "core_memory_append"
    assert json.loads(call.arguments) == {
        "label": "human",
        "content": "Ada lives in Oslo.",
        "request_heartbeat": True,
    }
    assert response.content == "A fact: I save it." and response.parse_error is None
    assert response.raw == CALL
    assert "".join(text for ch, text in tokens if ch == "thought") == "A fact: I save it."


async def test_a_send_message_keeps_no_heartbeat_and_streams_its_text(server):
    server.script(
        'Answer.", "function": "send_message", "params": {"message": "You live in Oslo!"}, "request_heartbeat": true}'
    )
    llm = backend(server, "chatml")
    tokens: list[tuple[str, str]] = []
    response = await llm.complete(CONTEXT, TOOL_SCHEMAS, on_token=lambda ch, text: tokens.append((ch, text)))
    await llm.aclose()
    assert server.requests[0]["prompt"].endswith('<|im_start|>assistant\n{"inner_thoughts": "')
    assert server.requests[0]["stop"] == ["<|im_end|>"]
    assert json.loads(response.tool_calls[0].arguments) == {"message": "You live in Oslo!"}
    assert "".join(text for ch, text in tokens if ch == "message") == "You live in Oslo!"


@pytest.mark.parametrize(
    "raw",
    [
        # what an unconstrained model writes around the call: prose, a code fence, the next speaker
        f"Sure! Here is my reply:\n```json\n{CALL}\n```",
        f"{CALL}\nUSER: thanks",
        # other key spellings
        '{"thought": "A fact: I save it.", "name": "core_memory_append", "arguments": '
        '{"label": "human", "content": "Ada lives in Oslo."}, "request_heartbeat": "true"}',
    ],
)
async def test_unconstrained_output_is_read_leniently(server, raw):
    server.script(raw)
    llm = backend(server)
    llm.constraint = "json_schema"  # the prompt ends before the reply, and nothing binds the server
    response = await llm.complete(CONTEXT, TOOL_SCHEMAS)
    await llm.aclose()
    assert response.parse_error is None, response.parse_error
    [call] = response.tool_calls
    assert call.name == "core_memory_append"
    assert json.loads(call.arguments)["content"] == "Ada lives in Oslo."
    assert response.content == "A fact: I save it."


async def test_prose_alone_is_a_parse_error_with_the_raw_text(server):
    server.script("I think I will just chat today.")
    llm = backend(server)
    llm.constraint = "json_schema"
    response = await llm.complete(CONTEXT, TOOL_SCHEMAS)
    await llm.aclose()
    assert response.tool_calls == [] and response.parse_error
    assert response.raw == "I think I will just chat today."


@pytest.mark.parametrize(
    "stream",
    [
        b"data: {not json\n\n",
        b"data: [1, 2]\n\n",
        b'data: {"choices": {"text": "x"}}\n\n',
        b'data: {"choices": [{"text": 7}]}\n\n',
    ],
)
async def test_a_malformed_event_stream_is_an_llm_error_not_a_crash(server, stream):
    server.script(stream)
    llm = backend(server)
    with pytest.raises(LLMError, match="malformed reply"):
        await llm.complete(CONTEXT, TOOL_SCHEMAS)
    await llm.aclose()


@pytest.mark.parametrize(
    ("stream", "where"),
    [
        (b"data: {not json\n\n", "not JSON"),
        (b'data: {"choices": "all"}\n\n', "choices:"),
        (b'data: {"choices": [{"text": 7}]}\n\n', "choices.0.text:"),
        (b'data: {"choices": [{"text": "x", "finish_reason": ["stop"]}]}\n\n', "choices.0.finish_reason:"),
    ],
)
async def test_a_malformed_event_says_what_is_wrong_and_what_to_try(server, stream, where):
    server.script(stream)
    llm = backend(server)
    with pytest.raises(MalformedReply) as caught:
        await llm.complete(CONTEXT, TOOL_SCHEMAS)
    await llm.aclose()
    assert where in str(caught.value)
    assert "/v1/completions" in caught.value.hint and "--wrapper none" in caught.value.hint


async def test_an_error_event_inside_a_200_is_the_servers_error(server):
    server.script(b'data: {"error": {"message": "upstream exploded"}}\n\n')
    llm = backend(server)
    with pytest.raises(LLMError, match="upstream exploded"):
        await llm.complete(CONTEXT, TOOL_SCHEMAS)
    await llm.aclose()


async def test_usage_is_read_and_nonsense_counts_are_dropped(server):
    event = {"choices": [{"text": CONTINUED, "finish_reason": "stop"}], "usage": {"prompt_tokens": 90}}
    server.script(f"data: {json.dumps(event)}\n\ndata: [DONE]\n\n".encode())
    server.script(b'data: {"choices": null, "usage": {"prompt_tokens": -4}}\n\n')
    llm = backend(server)
    first = await llm.complete(CONTEXT, TOOL_SCHEMAS)
    second = await llm.complete(CONTEXT, TOOL_SCHEMAS)
    await llm.aclose()
    assert (first.prompt_tokens, first.finish_reason) == (90, "stop")
    assert first.tool_calls[0].name == "core_memory_append"
    assert second.prompt_tokens is None and second.tool_calls == []


async def test_an_oversized_reply_is_refused(server):
    piece = "x" * (1 << 16)
    event = f"data: {json.dumps({'choices': [{'text': piece}]})}\n\n"
    server.script((event * (MAX_REPLY_CHARS // len(piece) + 1)).encode())
    llm = backend(server)
    with pytest.raises(MalformedReply, match="passed") as caught:
        await llm.complete(CONTEXT, TOOL_SCHEMAS)
    assert "--wrapper none" in caught.value.hint
    await llm.aclose()


@pytest.mark.parametrize("header", [{"retry-after-ms": "150"}, {"retry-after": "0.15"}])
async def test_a_rate_limit_waits_for_the_servers_retry_after(server, header):
    server.script(Failure(429, header), CONTINUED)
    llm = backend(server, max_retries=1, retry_base_delay=0.001, retry_max_delay=0.5)
    started = time.monotonic()
    response = await llm.complete(CONTEXT, TOOL_SCHEMAS)
    await llm.aclose()
    assert time.monotonic() - started >= 0.15
    assert response.tool_calls[0].name == "core_memory_append" and len(server.requests) == 2


async def test_retry_after_is_capped_at_the_longest_backoff(server):
    server.script(Failure(503, {"retry-after": "60"}), CONTINUED)
    llm = backend(server, max_retries=1, retry_base_delay=0.001, retry_max_delay=0.05)
    started = time.monotonic()
    await llm.complete(CONTEXT, TOOL_SCHEMAS)
    await llm.aclose()
    assert time.monotonic() - started < 5 and len(server.requests) == 2


async def test_retries_exhausted_count_the_attempts(server):
    server.script(Failure(500), Failure(500), CONTINUED)
    llm = backend(server, max_retries=1, retry_base_delay=0.001)
    with pytest.raises(LLMError, match="after 2 attempts"):
        await llm.complete(CONTEXT, TOOL_SCHEMAS)
    await llm.aclose()
    assert len(server.requests) == 2


async def test_a_server_that_rejects_the_grammar_gets_a_json_schema_then_nothing(server):
    server.reject = {"grammar", "json_schema"}
    server.script(CONTINUED, CONTINUED)
    llm = backend(server)
    response = await llm.complete(CONTEXT, TOOL_SCHEMAS)
    assert [sorted(k for k in ("grammar", "json_schema") if k in r) for r in server.requests] == [
        ["grammar"],
        ["json_schema"],
        [],
    ]
    assert response.tool_calls[0].name == "core_memory_append"
    assert llm.constraint == "none"
    # Unconstrained, the prompt still ends with the reply's first words; under a schema it does not.
    assert server.requests[2]["prompt"].endswith(PRIMER) and not server.requests[1]["prompt"].endswith(PRIMER)
    await llm.complete(CONTEXT, TOOL_SCHEMAS)  # the choice holds for the session
    await llm.aclose()
    assert "grammar" not in server.requests[-1] and "json_schema" not in server.requests[-1]


async def test_a_server_that_takes_the_schema_keeps_it(server):
    server.reject = {"grammar"}
    server.script(CALL)
    llm = backend(server)
    await llm.complete(CONTEXT, TOOL_SCHEMAS)
    await llm.aclose()
    schema = server.requests[-1]["json_schema"]
    assert [b["properties"]["function"]["const"] for b in schema["anyOf"]][:2] == [
        "send_message",
        "core_memory_append",
    ]
    assert llm.constraint == "json_schema"


async def test_a_missing_endpoint_is_an_llm_error_with_the_address(server):
    llm = CompletionBackend(
        name="openai-compatible",
        model="local",
        base_url=server.base_url + "/nowhere",
        wrapper=get("transcript"),
        tokenizer=EstimateTokenizer(),
        context_window=8192,
        max_retries=0,
    )
    with pytest.raises(LLMError) as caught:
        await llm.complete(CONTEXT, TOOL_SCHEMAS)
    await llm.aclose()
    assert server.base_url in str(caught.value) or "404" in str(caught.value)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMGPT_TUI_HOME", str(tmp_path))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def test_a_wrapper_puts_an_openai_compatible_server_in_completion_mode(home):
    config = AgentConfig(backend="openai-compatible", model="local", base_url="http://127.0.0.1:9/v1")
    llm = build_backend(config, Settings(wrapper="chatml"))
    assert isinstance(llm, CompletionBackend) and llm.wrapper is get("chatml")
    assert isinstance(llm.layout, WrapperLayout)
    assert not isinstance(build_backend(config, Settings()), CompletionBackend)
    assert not isinstance(build_backend(config, Settings(wrapper="none")), CompletionBackend)


def test_the_embedded_model_defaults_to_the_notes_wrapper_and_none_keeps_the_chat_endpoint(home):
    assert build_backend(AgentConfig(), Settings()).wrapper is get(DEFAULT_WRAPPER)
    assert DEFAULT_WRAPPER == "notes"
    chat = build_backend(AgentConfig(), Settings(wrapper="none"))
    assert chat.wrapper is None and not isinstance(chat.layout, WrapperLayout)


def test_wrapper_mistakes_are_config_errors(home):
    with pytest.raises(ConfigError, match="No wrapper named 'alpaca'"):
        build_backend(AgentConfig(), Settings(wrapper="alpaca"))
    with pytest.raises(ConfigError, match="natively"):
        build_backend(
            AgentConfig(backend="openai", model="gpt-4o-mini"), Settings(api_key="sk-x", wrapper="chatml")
        )


def test_the_command_line_takes_a_wrapper():
    assert settings_from(build_parser().parse_args(["--wrapper", "llama3"])).wrapper == "llama3"
    assert settings_from(build_parser().parse_args(["run", "--plain", "--wrapper", "none"])).wrapper == "none"


async def test_the_gauge_counts_a_wrapper_prompt_as_the_sum_of_its_parts():
    """The layout's counts add up to the rendered prompt (estimated tokens, exact arithmetic)."""
    tokenizer = EstimateTokenizer()
    layout = WrapperLayout(get("transcript"), tokenizer)
    cost = await layout.cost()
    prompt = get("transcript").prompt(CONTEXT, TOOL_SCHEMAS)
    system = get("transcript").system_text(CONTEXT[0]["content"], layout.tools_text(TOOL_SCHEMAS))
    role, text = layout.turn(CONTEXT[1])
    [n_prompt, n_system, n_text] = await tokenizer.count([prompt, system, text])
    assert role == "user"
    assert abs(n_prompt - (cost.prompt + cost.turn + n_system + cost.turn + n_text)) <= 2


def test_the_layout_tells_the_gauge_which_functions_a_wrapper_offers():
    from memgpt_tui.engine.context import ContextBuilder

    tokenizer = EstimateTokenizer()
    notes = ContextBuilder(tokenizer, TOOL_SCHEMAS, WrapperLayout(get("notes"), tokenizer))
    chatml = ContextBuilder(tokenizer, TOOL_SCHEMAS, WrapperLayout(get("chatml"), tokenizer))
    assert notes.functions == (len(get("notes").offers or ()), len(TOOL_SCHEMAS)) and notes.layout.partial
    assert chatml.functions == (len(TOOL_SCHEMAS), len(TOOL_SCHEMAS)) and not chatml.layout.partial


@pytest.mark.parametrize("wrapper", ["chatml", "transcript"])
async def test_a_request_without_functions_is_free_text_unprimed_and_unconstrained(server, wrapper):
    """The summarizer offers no function: the model writes its own words, read as they are."""
    server.script("Ada lives in Oslo and likes the sea.")
    llm = backend(server, wrapper)
    prompt = [
        {"role": "system", "content": "Summarize the conversation in at most 50 words."},
        {"role": "user", "content": "Previous summary:\n(none)\n\nOlder messages:\nAda: I live in Oslo."},
    ]
    response = await llm.complete(prompt, [], require_tool=False)
    await llm.aclose()
    [body] = server.requests
    assert "grammar" not in body and not body["prompt"].endswith(PRIMER)
    assert "Older messages:" in body["prompt"]
    assert response.content == "Ada lives in Oslo and likes the sea." and not response.tool_calls


async def test_a_wrapper_that_shows_part_of_the_context_asks_for_no_summary(server):
    """notes never shows the model a summary: none is asked of it, and the summarizer keeps a plain note."""
    llm = backend(server, "notes")
    response = await llm.complete(CONTEXT, [], require_tool=False)
    await llm.aclose()
    assert server.requests == [] and response.content == "" and not response.tool_calls
