import json

import pytest

from memgpt_tui.llm.json_mode import ReplyStream
from memgpt_tui.llm.streaming import PartialJSON

TRICKY = 'quote " backslash \\ slash / tab \t newline \n é ü 中文 emoji 😀 end'


def parsed(text: str) -> dict:
    """The object read from ``text`` arriving in one piece."""
    return PartialJSON().feed(text)


def feed_by_char(text: str, *path: str) -> list[str]:
    stream, pieces = PartialJSON(), []
    for char in text:
        if grown := stream.grown(stream.feed(char), *path):
            pieces.append(grown)
    return pieces


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_field_arrives_whole_when_fed_one_character_at_a_time(ensure_ascii: bool) -> None:
    text = json.dumps({"inner_thoughts": TRICKY, "other": 1}, ensure_ascii=ensure_ascii)
    pieces = feed_by_char(text, "inner_thoughts")
    assert "".join(pieces) == TRICKY
    assert len(pieces) > 10  # it streamed, rather than arriving at the end


def test_nested_field_and_leading_code_fence() -> None:
    text = '```json\n{"function": "send_message", "params": {"message": "Hi \\"you\\" \\ud83d\\ude00"}}\n```'
    assert "".join(feed_by_char(text, "params", "message")) == 'Hi "you" 😀'


def test_half_an_escape_is_held_back() -> None:
    assert parsed('{"a": "x\\u00') == {"a": "x"}
    assert parsed('{"a": "x\\') == {"a": "x"}
    assert parsed('{"a": "x\\ud83d') == {"a": "x"}
    assert parsed("no json yet") == {}


def test_reply_stream_forwards_thoughts_and_only_send_message_text() -> None:
    events: list[tuple[str, str]] = []
    stream = ReplyStream(lambda channel, text: events.append((channel, text)))
    reply = {
        "inner_thoughts": "hmm",
        "function": "send_message",
        "params": {"message": "hello"},
        "request_heartbeat": False,
    }
    for char in json.dumps(reply):
        stream.feed(char)
    assert "".join(t for c, t in events if c == "thought") == "hmm"
    assert "".join(t for c, t in events if c == "message") == "hello"

    events.clear()
    other = ReplyStream(lambda channel, text: events.append((channel, text)))
    search = {"inner_thoughts": "look", "function": "archival_memory_search", "params": {"message": "no"}}
    for char in json.dumps(search):
        other.feed(char)
    assert [c for c, _ in events] == ["thought"] * len(events)


def test_raw_newlines_inside_strings_keep_streaming():
    text = '{\n  "inner_thoughts": "line one\nline two\tend", "params": {"message": "a \\"quoted\\"\nword'
    obj = parsed(text)
    assert obj["inner_thoughts"] == "line one\nline two\tend"
    assert obj["params"]["message"] == 'a "quoted"\nword'


def test_raw_newlines_split_across_pieces_keep_streaming():
    text = '```json\n{"inner_thoughts": "one\ntwo \\"q\\"\tend", "params": {"message": "a\nb"}}'
    stream = PartialJSON()
    for start in range(0, len(text), 3):
        obj = stream.feed(text[start : start + 3])
    assert obj == parsed(text) == {"inner_thoughts": 'one\ntwo "q"\tend', "params": {"message": "a\nb"}}
