"""Malformed model replies, as hypothesis strategies: what a broken or hostile OpenAI-compatible server
might send, streamed (SSE) or whole, in native tool calls or in JSON mode.

Each reply starts from a well-formed one (a call of one of the agent's functions, or of an unknown one)
and is then damaged: a value anywhere in a chunk replaced by any JSON value (wrong types, huge numbers,
lone surrogates, NUL and other control characters, deep nesting), whole SSE lines replaced by garbage,
empty or silent replies, error objects inside a 200, and oversized arguments.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests.fakes.openai_server import Reply

FUNCTIONS = (
    "send_message",
    "core_memory_append",
    "core_memory_replace",
    "archival_memory_insert",
    "archival_memory_search",
    "conversation_search",
    "conversation_search_date",
    "pause_heartbeats",
)
MB = 1 << 20
DEEP = '{"a": ' * 5000 + "1" + "}" * 5000  # JSON nested past what the parser's recursion allows
ECHOED_KEY = "sk-fuzzSECRET0123456789abcdefABCDEF"

_NASTY = [
    "\ud800",
    "\udfff",
    "a\ud83dz",
    "\x00",
    "nul\x00here",
    "\x1b[2J\x1b[31mred",
    "\x07\x08\x0b\x7f",
    "\u202e",
    "\ufeff",
]
nasty_text = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(categories=("Cs", "Cc", "Cf", "Zl", "Zp", "Lu")), max_size=20),
    st.sampled_from(_NASTY),
    st.lists(st.sampled_from(_NASTY + ["ok ", "word "]), max_size=6).map("".join),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**300, -(2**63), 2**64, 1e308]),
    st.floats(allow_nan=True, allow_infinity=True),
    nasty_text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _arguments(name: str) -> st.SearchStrategy[dict[str, Any]]:
    text = st.one_of(st.text(max_size=30), nasty_text)
    shapes = {
        "send_message": st.fixed_dictionaries({"message": text}),
        "core_memory_append": st.fixed_dictionaries(
            {"label": st.sampled_from(["human", "persona", "nope", "\ud800"]), "content": text}
        ),
        "core_memory_replace": st.fixed_dictionaries(
            {"label": st.just("human"), "old_content": text, "new_content": text}
        ),
        "archival_memory_insert": st.fixed_dictionaries({"content": text}),
        "archival_memory_search": st.fixed_dictionaries({"query": text}),
        "conversation_search": st.fixed_dictionaries({"query": text}),
        "conversation_search_date": st.fixed_dictionaries(
            {
                "start_date": st.sampled_from(["2024-01-01", "yesterday", "\x00"]),
                "end_date": st.just("2030-01-01"),
            }
        ),
        "pause_heartbeats": st.fixed_dictionaries({"minutes": st.integers(-5, 500)}),
    }
    base = shapes.get(name, st.dictionaries(st.text(max_size=5), json_values, max_size=2))
    return st.builds(
        lambda args, beat: {**args, "request_heartbeat": beat} if beat is not None else args,
        base,
        st.sampled_from([None, False, True]),
    )


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, str, str | None]:
    """(function name, arguments JSON text, inner thoughts): a call as a model might make it."""
    name = draw(st.one_of(st.sampled_from(FUNCTIONS), nasty_text))
    args = draw(_arguments(name))
    if draw(st.integers(0, 40)) == 0:  # an oversized argument
        key = next(iter(args), "content")
        args[key] = "x" * draw(st.sampled_from([MB, 3 * MB]))
    text = (
        json.dumps(args)
        if draw(st.integers(0, 9))
        else draw(st.sampled_from(['{"message": "cut', "", "[]", "null", "{{{", DEEP]))
    )
    thoughts = draw(st.one_of(st.none(), nasty_text, st.just("Thinking about it.")))
    return name, text, thoughts


def _chunk(delta: Any, finish: Any = None) -> dict[str, Any]:
    head = {"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 0, "model": "fake-model"}
    return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _native_events(name: str, args: str, thoughts: str | None, size: int) -> list[Any]:
    events: list[Any] = [_chunk({"role": "assistant", "content": ""})]
    events += [_chunk({"content": piece}) for piece in _pieces(thoughts or "", size)]
    start = {"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": ""}}
    events.append(_chunk({"tool_calls": [start]}))
    events += [
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in _pieces(args, size)
    ]
    events.append(_chunk({}, "tool_calls"))
    events.append(
        {"id": "chatcmpl-x", "choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 9}}
    )
    return events


def _json_body(name: str, args: str, thoughts: str | None) -> str:
    try:
        params: Any = json.loads(args)
    except (ValueError, RecursionError):
        params = args
    return json.dumps(
        {"inner_thoughts": thoughts, "function": name, "params": params, "request_heartbeat": False}
    )


def _whole(message: dict[str, Any], finish: Any = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-x",
        "object": "chat.completion",
        "created": 0,
        "model": "fake-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 9, "total_tokens": 109},
    }


# Where a value can be damaged in a streamed chunk or a whole completion.
_CHUNK_PATHS = [
    (),
    ("choices",),
    ("choices", 0),
    ("choices", 0, "delta"),
    ("choices", 0, "delta", "content"),
    ("choices", 0, "delta", "tool_calls"),
    ("choices", 0, "delta", "tool_calls", 0),
    ("choices", 0, "delta", "tool_calls", 0, "function"),
    ("choices", 0, "delta", "tool_calls", 0, "function", "name"),
    ("choices", 0, "delta", "tool_calls", 0, "function", "arguments"),
    ("choices", 0, "delta", "tool_calls", 0, "id"),
    ("choices", 0, "delta", "tool_calls", 0, "index"),
    ("choices", 0, "finish_reason"),
    ("choices", 0, "index"),
    ("usage",),
    ("usage", "prompt_tokens"),
    ("error",),
]
_WHOLE_PATHS = [
    (),
    ("choices",),
    ("choices", 0),
    ("choices", 0, "message"),
    ("choices", 0, "message", "content"),
    ("choices", 0, "message", "role"),
    ("choices", 0, "message", "tool_calls"),
    ("choices", 0, "message", "tool_calls", 0),
    ("choices", 0, "message", "tool_calls", 0, "function"),
    ("choices", 0, "message", "tool_calls", 0, "function", "name"),
    ("choices", 0, "message", "tool_calls", 0, "function", "arguments"),
    ("choices", 0, "message", "tool_calls", 0, "id"),
    ("choices", 0, "finish_reason"),
    ("usage",),
    ("usage", "completion_tokens"),
    ("error",),
]
_JSON_MODE_PATHS = [
    (),
    ("inner_thoughts",),
    ("function",),
    ("params",),
    ("params", "message"),
    ("request_heartbeat",),
]

# Whole SSE lines (after "data: ") or whole bodies that are not what the client expects.
_BAD_LINES = [
    b"5",
    b'"a string"',
    b"null",
    b"[]",
    b"",
    b"true",
    b'{"choices": [{"delta": {"content": "cut',
    b"garbage <html>",
    b'{"choices":[{"delta":{"content":"nul\x00raw"}}]}',
    b'{"choices":[{"delta":{"content":"\xff\xfe invalid utf-8"}}]}',
    b"1" * 5000,
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b'{"error": {"message": "upstream failed", "type": "server_error"}}',
    b'{"error": "just a string"}',
    b'{"choices": [], "error": null}',
    b"[DONE]",
]


def _set(obj: Any, path: tuple[Any, ...], value: Any) -> Any:
    """``obj`` with the value at ``path`` replaced, containers made along the way as needed."""
    if not path:
        return value
    key, rest = path[0], path[1:]
    if isinstance(key, int):
        items = list(obj) if isinstance(obj, list) else []
        while len(items) <= key:
            items.append({})
        items[key] = _set(items[key], rest, value)
        return items
    mapping = dict(obj) if isinstance(obj, dict) else {}
    mapping[key] = _set(mapping.get(key), rest, value)
    return mapping


def _dumps(value: Any) -> bytes:
    return json.dumps(
        value
    ).encode()  # ASCII escapes: lone surrogates travel as \\ud800, as servers send them


@dataclass(frozen=True)
class Case:
    """One generated reply and how it was made (for the failure report)."""

    kind: str
    stream: bool
    json_mode: bool
    reply: Reply

    def __repr__(self) -> str:
        body = self.reply.raw or b""
        return f"Case({self.kind}, stream={self.stream}, json={self.json_mode}, {body[:160]!r}...)"


def _sse(lines: list[bytes]) -> bytes:
    return b"".join(b"data: " + line + b"\n\n" for line in lines) + b"data: [DONE]\n\n"


@st.composite
def replies(draw: st.DrawFn, *, stream: bool, json_mode: bool) -> Case:
    name, args, thoughts = draw(calls())
    kind = draw(st.sampled_from(["value", "value", "value", "line", "silent", "call", "status"]))
    if kind == "status":  # an error status whose text echoes the key back, as OpenAI's 401 does
        status = draw(st.sampled_from([400, 401, 403, 404, 422, 500]))
        return Case(
            kind, stream, json_mode, Reply.failure(status, f"Incorrect API key provided: {ECHOED_KEY}")
        )
    if json_mode:
        body: Any = json.loads(_json_body(name, args, thoughts))
        if kind == "value":
            body = _set(body, draw(st.sampled_from(_JSON_MODE_PATHS)), draw(json_values))
        content = json.dumps(body)
        if kind == "line":
            content = draw(
                st.sampled_from(
                    [
                        "",
                        "not json at all",
                        '{"function": "send_message", "params": {"message": "cut',
                        "[1, 2]",
                        '{"function": "send_message", "params": ' + DEEP + "}",
                    ]
                )
            )
        message: dict[str, Any] = {"role": "assistant", "content": content}
        native = False
    else:
        message = {
            "role": "assistant",
            "content": thoughts,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": name, "arguments": args}}
            ],
        }
        native = True
    if kind == "silent":
        silent = draw(
            st.sampled_from(["no choices", "empty choice", "null content", "content_filter", "length"])
        )
        if stream:
            events = {
                "no choices": [{"id": "x", "choices": []}],
                "empty choice": [{"id": "x", "choices": [{}]}],
                "null content": [_chunk({"content": None})],
                "content_filter": [_chunk({"content": None}, "content_filter")],
                "length": [_chunk({"content": ""}, "length")],
            }[silent]
            return Case(f"silent {silent}", stream, json_mode, Reply(raw=_sse([_dumps(e) for e in events])))
        whole = {
            "no choices": {**_whole({}), "choices": []},
            "empty choice": {**_whole({}), "choices": [{}]},
            "null content": _whole({"role": "assistant", "content": None}),
            "content_filter": _whole({"role": "assistant", "content": None}, "content_filter"),
            "length": _whole({"role": "assistant", "content": ""}, "length"),
        }[silent]
        return Case(f"silent {silent}", stream, json_mode, Reply(raw=_dumps(whole)))
    if not stream:
        whole = _whole(message, "tool_calls" if native else "stop")
        if kind == "value":
            whole = _set(whole, draw(st.sampled_from(_WHOLE_PATHS)), draw(json_values))
            return Case(kind, stream, json_mode, Reply(raw=_dumps(whole)))
        if kind == "line":
            return Case(kind, stream, json_mode, Reply(raw=draw(st.sampled_from(_BAD_LINES))))
        return Case(kind, stream, json_mode, Reply(raw=_dumps(whole)))
    size = draw(st.sampled_from([3, 16, 1 << 16]))
    if len(args) > MB // 2:  # an oversized argument in pieces of 1 KB or more keeps generating it quick
        size = max(size, 1024)
    if native:
        events = _native_events(name, args, thoughts, size)
    else:
        events = [_chunk({"content": p}) for p in _pieces(message["content"], size)] + [_chunk({}, "stop")]
    lines = [_dumps(e) for e in events]
    if kind == "value":
        at = draw(st.integers(0, len(events) - 1))
        lines[at] = _dumps(_set(events[at], draw(st.sampled_from(_CHUNK_PATHS)), draw(json_values)))
    elif kind == "line":
        at = draw(st.integers(0, len(lines)))
        lines.insert(at, draw(st.one_of(st.sampled_from(_BAD_LINES), st.binary(max_size=40))))
    return Case(kind, stream, json_mode, Reply(raw=_sse(lines)))


def user_texts() -> st.SearchStrategy[str]:
    """What a careless user types or pastes: ordinary words, control characters, lone surrogates."""
    return st.one_of(st.just("hello there"), st.text(min_size=1, max_size=60), nasty_text.filter(bool))
