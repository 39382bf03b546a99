"""The reply grammar and schema generated from the function schemas, checked by llama.cpp's own
grammar parser (the one the embedded server uses)."""

from __future__ import annotations

import json
import re

import llama_cpp
import pytest

from memgpt_tui.engine.functions import TOOL_SCHEMAS
from memgpt_tui.llm.grammar import PRIMER, Caps, gbnf, reply_schema, worded_rules


def rules(grammar: str) -> dict[str, str]:
    return dict(line.split(" ::= ", 1) for line in grammar.strip().splitlines())


def test_the_grammar_of_every_function_set_is_one_llama_cpp_accepts():
    for tools in (TOOL_SCHEMAS, TOOL_SCHEMAS[:1], TOOL_SCHEMAS[2:5]):
        llama_cpp.LlamaGrammar.from_string(gbnf(tools), verbose=False)


def test_the_grammar_fixes_the_key_order_and_offers_only_the_given_functions():
    grammar = rules(gbnf(TOOL_SCHEMAS[:3]))
    assert grammar["root"] == (
        r'"{\"inner_thoughts\": \"" thoughts ", \"function\": " (send-message | pause-heartbeats | '
        r'core-memory-append) ", \"request_heartbeat\": " boolean "}"'
    )
    # After a prompt that ends with the reply's first words, the grammar is of the rest.
    primed = rules(gbnf(TOOL_SCHEMAS[:3], primed=True))
    assert primed["root"] == grammar["root"].removeprefix(r'"{\"inner_thoughts\": \"" ')
    assert PRIMER == '{"inner_thoughts": "'
    llama_cpp.LlamaGrammar.from_string(gbnf(TOOL_SCHEMAS, primed=True), verbose=False)
    assert grammar["send-message"] == r'"\"send_message\", \"params\": " "{" "\"message\": " text "}"'
    # request_heartbeat is lifted out of the parameters, to the top level.
    assert grammar["core-memory-append"] == (
        r'"\"core_memory_append\", \"params\": " "{" "\"label\": " text ", \"content\": " text "}"'
    )
    assert grammar["pause-heartbeats"].endswith('"\\"minutes\\": " integer "}"')
    assert "conversation-search" not in grammar


def test_strings_are_single_line_and_capped():
    grammar = rules(gbnf(TOOL_SCHEMAS[:1], Caps(thoughts=80, text=200)))
    assert grammar["thoughts"] == r'char{0,80} "\""'
    assert grammar["text"] == r'"\"" char{0,200} "\""'
    assert r"\x00-\x1f" in grammar["char"]


def test_optional_parameters_may_be_left_out_and_dates_are_dates():
    by_name = {t["function"]["name"]: t for t in TOOL_SCHEMAS}
    grammar = rules(gbnf([by_name["conversation_search_date"]]))
    assert grammar["conversation-search-date"] == (
        r'"\"conversation_search_date\", \"params\": " "{" "\"start_date\": " date ", \"end_date\": " date '
        r'(", \"page\": " integer)? "}"'
    )
    assert grammar["date"] == r'"\"" [0-9]{4} "-" [0-9]{2} "-" [0-9]{2} "\""'


def test_enums_and_other_types_are_spelled_out():
    tool = {
        "name": "pick",
        "parameters": {
            "type": "object",
            "properties": {
                "label": {"type": "string", "enum": ["human", "persona"]},
                "extra": {"type": "array"},
            },
            "required": ["label", "extra"],
        },
    }
    grammar = gbnf([tool])
    assert r'"\"label\": " ("\"human\"" | "\"persona\"")' in rules(grammar)["pick"]
    assert "value ::=" in grammar and "array ::=" in grammar
    llama_cpp.LlamaGrammar.from_string(grammar, verbose=False)


def test_no_function_is_no_grammar():
    with pytest.raises(ValueError):
        gbnf([])


def test_the_schema_says_the_same_as_the_grammar():
    schema = reply_schema(TOOL_SCHEMAS[:3], Caps(thoughts=80, text=200))
    names = [branch["properties"]["function"]["const"] for branch in schema["anyOf"]]
    assert names == ["send_message", "pause_heartbeats", "core_memory_append"]
    append = schema["anyOf"][2]
    assert list(append["properties"]) == ["inner_thoughts", "function", "params", "request_heartbeat"]
    assert append["properties"]["inner_thoughts"]["maxLength"] == 80
    assert append["properties"]["params"]["properties"]["content"]["maxLength"] == 200
    assert "request_heartbeat" not in append["properties"]["params"]["properties"]


def as_regex(grammar: str, rule: str = "root") -> str:
    """A grammar without recursion as a regular expression (literals, rule names, groups, ``?``,
    ``{m,n}`` and character classes), to check which texts it lets through."""
    table = rules(grammar)
    token = re.compile(r'"(?:[^"\\]|\\.)*"|\[[^\]]*\]|\{\d+,\d+\}|[()|?]|[\w-]+|\s+')
    out = []
    for part in token.findall(table[rule]):
        if part.startswith('"'):
            out.append(re.escape(json.loads(part)))
        elif part[0].isalpha() or part[0] == "_":
            out.append(f"(?:{as_regex(grammar, part)})")
        elif not part.isspace():
            out.append(part)
    return "".join(out)


def test_a_worded_sentence_holds_only_the_words_given():
    grammar = "root ::= sentence\n" + worded_rules(
        ["You", "your", "you're", "07:45", "Casa", 'say"', "a b"], 4
    )
    llama_cpp.LlamaGrammar.from_string(grammar, verbose=False)
    allowed = re.compile(as_regex(grammar))
    for text in ("You're Casa.", "your 07:45, you!", "Your casa?", "you you you you."):
        assert allowed.fullmatch(text), text
    # Other words, a word cut short, too many words, no end, or words a JSON string would escape.
    for text in ("You are Casa.", "Yo Casa.", "you you you you you.", "You", 'say".', "a b."):
        assert not allowed.fullmatch(text), text
