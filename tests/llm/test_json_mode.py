import json
from typing import Any

import pytest

from memgpt_tui.engine.summarizer import summarize
from memgpt_tui.llm import json_mode
from memgpt_tui.llm.openai_backend import OpenAIBackend
from memgpt_tui.llm.tokenizers import EstimateTokenizer
from memgpt_tui.model.messages import user_message
from tests.fakes.openai_server import FakeOpenAIServer, Reply

HISTORY: list[dict[str, Any]] = [
    {"role": "system", "content": "You are Sam."},
    {
        "role": "assistant",
        "content": "Boot sequence done.",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "send_message", "arguments": '{"message": "More human than human."}'},
            }
        ],
    },
    {
        "role": "tool",
        "tool_call_id": "call_1",
        "name": "send_message",
        "content": '{"status": "OK", "message": null}',
    },
    {"role": "user", "content": '{"type": "login", "last_login": "never"}'},
    {
        "role": "assistant",
        "content": "Remember the name.",
        "tool_calls": [
            {
                "id": "call_2",
                "type": "function",
                "function": {
                    "name": "core_memory_append",
                    "arguments": '{"label": "human", "content": "Name: Ada", "request_heartbeat": true}',
                },
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_2", "content": '{"status": "OK", "message": "appended"}'},
    {"role": "user", "content": '{"type": "heartbeat", "reason": "request_heartbeat == true"}'},
]


def test_schema_has_one_branch_per_function_with_thoughts_first(tools: list[dict[str, Any]]) -> None:
    schema = json_mode.reply_schema(tools)
    branches = schema["anyOf"]
    assert [b["properties"]["function"]["const"] for b in branches] == [
        "send_message",
        "core_memory_append",
        "archival_memory_search",
    ]
    for branch in branches:
        assert list(branch["properties"]) == ["inner_thoughts", "function", "params", "request_heartbeat"]
        assert "request_heartbeat" not in branch["properties"]["params"]["properties"]
        assert "request_heartbeat" not in branch["properties"]["params"].get("required", [])
    assert branches[1]["properties"]["params"]["properties"]["label"]["enum"] == ["persona", "human"]


def test_response_format_kinds(tools: list[dict[str, Any]]) -> None:
    schema = json_mode.reply_schema(tools)
    assert json_mode.response_format(tools, "json_object") == {"type": "json_object", "schema": schema}
    assert json_mode.response_format(tools, "json_schema") == {
        "type": "json_schema",
        "json_schema": {"name": "function_call", "schema": schema},
    }
    assert json_mode.response_format(tools, "none") is None


def test_prompt_lists_every_function_and_its_parameters(tools: list[dict[str, Any]]) -> None:
    prompt = json_mode.tools_prompt(tools)
    assert '"inner_thoughts"' in prompt and '"request_heartbeat"' in prompt
    for name in ("send_message", "core_memory_append", "archival_memory_search"):
        assert f"## {name}" in prompt
    assert '- label (string, one of "persona", "human", required)' in prompt
    assert "- request_heartbeat" not in prompt  # lifted to the top level
    assert "Example reply:" in prompt


def test_history_becomes_text_turns(tools: list[dict[str, Any]]) -> None:
    turns = json_mode.to_text_turns(HISTORY, tools, fold_system=False)
    assert [t["role"] for t in turns] == ["system", "assistant", "user", "assistant", "user"]
    assert turns[0]["content"].startswith("You are Sam.\n\n# How you act")
    first_call = json.loads(turns[1]["content"])
    assert first_call == {
        "inner_thoughts": "Boot sequence done.",
        "function": "send_message",
        "params": {"message": "More human than human."},
        "request_heartbeat": False,
    }
    result, login = turns[2]["content"].split("\n\n")
    assert json.loads(result) == {
        "type": "function_result",
        "function": "send_message",
        "result": {"status": "OK", "message": None},
    }
    assert json.loads(login)["type"] == "login"
    second_call = json.loads(turns[3]["content"])
    assert second_call["params"] == {"label": "human", "content": "Name: Ada"}
    assert second_call["request_heartbeat"] is True
    # The tool message without a name takes it from the call it answers.
    assert json.loads(turns[4]["content"].split("\n\n")[0])["function"] == "core_memory_append"


def test_fold_system_opens_the_first_user_turn_and_roles_alternate(tools: list[dict[str, Any]]) -> None:
    messages = [HISTORY[0], {"role": "user", "content": "hello"}, *HISTORY[1:]]
    turns = json_mode.to_text_turns(messages, tools, fold_system=True)
    roles = [t["role"] for t in turns]
    assert "system" not in roles
    assert roles[0] == "user"
    assert all(a != b for a, b in zip(roles, roles[1:], strict=False))
    assert turns[0]["content"].startswith("You are Sam.") and turns[0]["content"].endswith("hello")


def test_later_system_messages_become_user_turns(tools: list[dict[str, Any]]) -> None:
    messages = [
        HISTORY[0],
        {"role": "system", "content": "Summary of earlier chat."},
        {"role": "user", "content": "hi"},
    ]
    turns = json_mode.to_text_turns(messages, tools, fold_system=False)
    assert [t["role"] for t in turns] == ["system", "user"]
    assert turns[1]["content"] == "Summary of earlier chat.\n\nhi"


def test_parse_adds_heartbeat_only_to_functions_that_take_it(tools: list[dict[str, Any]]) -> None:
    reply = json_mode.parse_reply(
        '{"inner_thoughts": "save it", "function": "core_memory_append", '
        '"params": {"label": "human", "content": "likes tea"}, "request_heartbeat": true}',
        tools,
    )
    assert reply.parse_error is None and reply.content == "save it"
    (call,) = reply.tool_calls
    assert call.name == "core_memory_append" and call.id.startswith("call_")
    assert json.loads(call.arguments) == {"label": "human", "content": "likes tea", "request_heartbeat": True}

    message = json_mode.parse_reply(
        '{"inner_thoughts": "", "function": "send_message", "params": {"message": "hi"}, "request_heartbeat": false}',
        tools,
    )
    assert json.loads(message.tool_calls[0].arguments) == {"message": "hi"}


@pytest.mark.parametrize(
    ("text", "function", "arguments"),
    [
        (
            '```json\n{"inner_thoughts": "hi", "function": "send_message", "params": {"message": "yo"}}\n```',
            "send_message",
            {"message": "yo"},
        ),
        (
            "{'inner_thoughts': 'hi', 'function': 'send_message', 'params': {'message': 'yo',},}",
            "send_message",
            {"message": "yo"},
        ),
        (  # truncated mid-string by the token limit
            '{"inner_thoughts": "hi", "function": "send_message", "params": {"message": "yo, how are',
            "send_message",
            {"message": "yo, how are"},
        ),
        (  # params given as a JSON string, heartbeat as a string
            '{"inner_thoughts": "x", "function": "archival_memory_search", '
            '"params": "{\\"query\\": \\"tea\\"}", "request_heartbeat": "true"}',
            "archival_memory_search",
            {"query": "tea", "request_heartbeat": True},
        ),
        (  # the OpenAI-ish spelling some models drift to
            '{"thoughts": "x", "function": {"name": "send_message", "arguments": {"message": "yo"}}}',
            "send_message",
            {"message": "yo"},
        ),
    ],
)
def test_near_misses_are_read(
    text: str, function: str, arguments: dict[str, Any], tools: list[dict[str, Any]]
) -> None:
    reply = json_mode.parse_reply(text, tools)
    assert reply.parse_error is None, reply.parse_error
    assert reply.tool_calls[0].name == function
    assert json.loads(reply.tool_calls[0].arguments) == arguments
    assert reply.raw == text


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("I think I'll just say hello.", "not a JSON function call"),
        ("", "not a JSON function call"),
        ('{"inner_thoughts": "no action"}', 'no "function"'),
        ('{"inner_thoughts": "x", "function": 42, "params": {}}', '"function" must be'),
        ('{"inner_thoughts": "x", "function": "send_message", "params": [1, 2]}', '"params" must be'),
        (
            '{"inner_thoughts": "x", "function": "send_message", "params": "not json at all"}',
            '"params" must be',
        ),
        (
            '{"inner_thoughts": "x", "function": "send_message", "params": {}, "request_heartbeat": "maybe"}',
            '"request_heartbeat" must be',
        ),
    ],
)
def test_unreadable_replies_give_parse_error_not_exception(
    text: str, problem: str, tools: list[dict[str, Any]]
) -> None:
    reply = json_mode.parse_reply(text, tools)
    assert reply.parse_error is not None and problem in reply.parse_error
    assert reply.tool_calls == []
    assert reply.raw == text


def test_inner_thoughts_survive_a_missing_function(tools: list[dict[str, Any]]) -> None:
    reply = json_mode.parse_reply('{"inner_thoughts": "pondering"}', tools)
    assert reply.content == "pondering"


def test_schema_compiles_to_a_llama_cpp_grammar(tools: list[dict[str, Any]]) -> None:
    """The embedded server turns ``response_format.schema`` into a grammar with this very code."""
    grammar = pytest.importorskip("llama_cpp.llama_grammar")
    gbnf = grammar.json_schema_to_gbnf(json.dumps(json_mode.reply_schema(tools)))
    assert '"\\"core_memory_append\\""' in gbnf
    grammar.LlamaGrammar.from_string(gbnf, verbose=False)


def test_gemma_chat_format_keeps_the_folded_system_prompt(tools: list[dict[str, Any]]) -> None:
    chat_format = pytest.importorskip("llama_cpp.llama_chat_format")
    unfolded = chat_format.format_gemma(json_mode.to_text_turns(HISTORY, tools, fold_system=False)).prompt
    folded = chat_format.format_gemma(json_mode.to_text_turns(HISTORY, tools, fold_system=True)).prompt
    assert "You are Sam." not in unfolded  # what the fold is for
    assert folded.startswith("<start_of_turn>user\nYou are Sam.")
    assert "## archival_memory_search" in folded


async def test_a_summary_is_asked_for_and_read_as_plain_text(openai_fake: FakeOpenAIServer) -> None:
    """The summariser offers no function: no instructions, no reply schema, and its words as they are."""
    told = "Ada said her name and that she lives in Oslo; Sam noted both."
    openai_fake.script(Reply.text(told))
    llm = OpenAIBackend(
        name="openai-compatible",
        model="fake-model",
        base_url=openai_fake.base_url,
        function_calling="json",
        tokenizer=EstimateTokenizer(),
    )
    try:
        summary = await summarize(llm, None, [user_message("I am Ada and I live in Oslo.", 1)])
    finally:
        await llm.aclose()
    assert summary == told
    (sent,) = openai_fake.chat_requests
    assert "response_format" not in sent and "tools" not in sent
    prompt = "\n".join(m["content"] for m in sent["messages"])
    assert "I am Ada and I live in Oslo." in prompt
    assert "# How you act" not in prompt and "# Functions" not in prompt and "inner_thoughts" not in prompt
