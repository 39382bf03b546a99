"""MemGPT's "wrapper" for models without native tool calls.

The function schemas go into the system prompt, every reply is one JSON object
``{"inner_thoughts", "function", "params", "request_heartbeat"}`` (constrained by ``response_format``
where the server can), and the OpenAI-shaped history is rewritten as plain user/assistant turns in
that same form, so the model sees its own past calls as examples. A request offering no function (the
summariser's) gets neither the instructions nor the constraint: its reply is plain text.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any, Literal

from memgpt_tui.llm import lenient
from memgpt_tui.llm.base import LLMResponse, LLMToolCall, OnToken
from memgpt_tui.llm.streaming import PartialJSON

ResponseFormatKind = Literal["json_schema", "json_object", "none"]

JOIN = "\n\n"  # between the system prompt and the function list, and between merged turns

HEARTBEAT = "request_heartbeat"
REPLY_KEYS = ("inner_thoughts", "function", "params", HEARTBEAT)
# Spellings models use for the reply's keys when they drift from the instructions.
_ALIASES = {
    "inner_thoughts": ("inner_thoughts", "inner_monologue", "thoughts", "thought"),
    "function": ("function", "function_name", "name", "tool"),
    "params": ("params", "parameters", "arguments", "args"),
}

_INSTRUCTIONS = """\
# How you act
You act only by calling functions. Every reply is exactly one JSON object and nothing else \
(no text before or after it), in this form:
{"inner_thoughts": "...", "function": "...", "params": {...}, "request_heartbeat": false}

- "inner_thoughts": your private thoughts, short (under 50 words). The user never sees them.
- "function": the name of one of the functions listed below.
- "params": the arguments of that function, with the types its parameters require.
- "request_heartbeat": true to get control back after the function runs (to call another function \
next); false to stop and wait for the user.

The user sees only what you pass to send_message. Function results come back to you as \
{"type": "function_result", "function": "...", "result": ...}."""

_EXAMPLE = {
    "inner_thoughts": "The user greeted me. I should greet them back warmly.",
    "function": "send_message",
    "params": {"message": "Hi! How are you today?"},
    HEARTBEAT: False,
}


def functions(tools: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The function definitions inside OpenAI tool entries (bare definitions pass through)."""
    return [tool.get("function", tool) for tool in tools]


def split_params(function: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The function's parameter schema without ``request_heartbeat`` (which the wrapper lifts to the
    top level), and whether the function declared it."""
    params = dict(function.get("parameters") or {"type": "object", "properties": {}})
    properties = dict(params.get("properties") or {})
    declared = properties.pop(HEARTBEAT, None) is not None
    params["properties"] = properties
    if "required" in params:
        params["required"] = [name for name in params["required"] if name != HEARTBEAT]
    return params, declared


def reply_schema(tools: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """JSON schema of a reply: one branch per function, so ``params`` must fit the chosen function."""
    branches = [
        _reply_object({"type": "string", "const": fn["name"]}, split_params(fn)[0]) for fn in functions(tools)
    ]
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def _reply_object(function: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    # Key order matters: grammar-constrained servers emit keys in schema order, and thinking first
    # makes the call better (and lets the thoughts stream first).
    return {
        "type": "object",
        "properties": {
            "inner_thoughts": {"type": "string"},
            "function": function,
            "params": params,
            HEARTBEAT: {"type": "boolean"},
        },
        "required": list(REPLY_KEYS),
        "additionalProperties": False,
    }


def response_format(tools: Sequence[dict[str, Any]], kind: ResponseFormatKind) -> dict[str, Any] | None:
    """The constraint on a reply; none when no function is offered (a summary is free text)."""
    if kind == "none" or not tools:
        return None
    schema = reply_schema(tools)
    if kind == "json_object":  # llama-cpp-python's server turns this schema into a grammar
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": "function_call", "schema": schema}}


def tools_prompt(tools: Sequence[dict[str, Any]]) -> str:
    """The instructions and function list appended to the system prompt."""
    fns = functions(tools)
    parts = [_INSTRUCTIONS]
    if any(fn["name"] == "send_message" for fn in fns):
        parts.append("Example reply:\n" + json.dumps(_EXAMPLE, ensure_ascii=False))
    parts.append("# Functions")
    parts.extend(_describe(fn) for fn in fns)
    return "\n\n".join(parts)


def _describe(function: dict[str, Any]) -> str:
    params, _ = split_params(function)
    required = set(params.get("required") or ())
    lines = [f"## {function['name']}"]
    if description := function.get("description"):
        lines.append(description.strip())
    properties = params.get("properties") or {}
    lines.append("params:" if properties else "params: {} (none)")
    for name, spec in properties.items():
        kind = spec.get("type", "any")
        kind = " or ".join(kind) if isinstance(kind, list) else kind
        if "enum" in spec:
            kind += ", one of " + ", ".join(json.dumps(v) for v in spec["enum"])
        flag = "required" if name in required else "optional"
        note = f": {spec['description'].strip()}" if spec.get("description") else ""
        lines.append(f"- {name} ({kind}, {flag}){note}")
    return "\n".join(lines)


def to_text_turns(
    messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], *, fold_system: bool
) -> list[dict[str, str]]:
    """OpenAI-shaped history as plain text turns, the function list added to the system prompt (when
    there is one: a request offering no function asks for free text).

    Consecutive turns of one role are merged so roles alternate. With ``fold_system`` the system
    prompt opens the first user turn instead, for chat formats that drop system messages.
    """
    turns: list[dict[str, str]] = []
    call_names: dict[str, str] = {}
    for index, message in enumerate(messages):
        if message["role"] == "system" and index == 0:
            text = _text(message.get("content")) + (f"{JOIN}{tools_prompt(tools)}" if tools else "")
            turns.append({"role": "user" if fold_system else "system", "content": text})
            continue
        for call in message.get("tool_calls") or ():
            call_names[call.get("id", "")] = call["function"]["name"]
        turns.append(to_text_turn(message, call_names))
    return _merge_same_role(turns)


def to_text_turn(message: dict[str, Any], call_names: dict[str, str] | None = None) -> dict[str, str]:
    """One message after the system prompt as a text turn. A tool result without its function's
    name takes it from ``call_names`` (call id to name)."""
    role, text = message["role"], _text(message.get("content"))
    if role == "assistant":
        calls = message.get("tool_calls") or []
        return {"role": "assistant", "content": _render_calls(text, calls) if calls else text}
    if role == "tool":
        name = message.get("name") or (call_names or {}).get(message.get("tool_call_id") or "", "")
        return {"role": "user", "content": _render_result(name, text)}
    # user messages, and later system alerts, which many chat formats refuse mid-conversation
    return {"role": "user", "content": text}


def _text(content: Any) -> str:
    if isinstance(content, list):  # content parts
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def _render_calls(thoughts: str, calls: Sequence[dict[str, Any]]) -> str:
    rendered = []
    for number, call in enumerate(calls):
        raw = call["function"].get("arguments") or "{}"
        try:
            params: Any = lenient.loads(raw)
        except lenient.NotJSON:
            params = raw
        heartbeat = params.pop(HEARTBEAT, False) if isinstance(params, dict) else False
        reply = {
            "inner_thoughts": thoughts if number == 0 else "",
            "function": call["function"]["name"],
            "params": params,
            HEARTBEAT: bool(_as_bool(heartbeat)),
        }
        rendered.append(json.dumps(reply, ensure_ascii=False))
    return "\n".join(rendered)


def _render_result(name: str, content: str) -> str:
    try:
        result: Any = json.loads(content)
    except ValueError:
        result = content
    return json.dumps({"type": "function_result", "function": name, "result": result}, ensure_ascii=False)


def _merge_same_role(turns: list[dict[str, str]]) -> list[dict[str, str]]:
    merged: list[dict[str, str]] = []
    for turn in turns:
        if merged and merged[-1]["role"] == turn["role"]:
            merged[-1] = {"role": turn["role"], "content": f"{merged[-1]['content']}{JOIN}{turn['content']}"}
        else:
            merged.append(dict(turn))
    return merged


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def parse_reply(text: str, tools: Sequence[dict[str, Any]]) -> LLMResponse:
    """Read a reply as a function call. Never raises: a reply that cannot be read comes back with
    ``parse_error`` saying why, and the raw text."""
    try:
        reply = lenient.load_object(text)
    except lenient.NotJSON as exc:
        return LLMResponse(
            content=None, parse_error=f"The reply is not a JSON function call: {exc}.", raw=text
        )
    thoughts = _pick(reply, "inner_thoughts")
    content = thoughts if isinstance(thoughts, str) or thoughts is None else json.dumps(thoughts)
    function, params = _pick(reply, "function"), _pick(reply, "params")
    if isinstance(function, dict):  # {"function": {"name": ..., "arguments": ...}}
        if params is None:
            params = _pick(function, "params")
        function = function.get("name")
    problem = _check(function, params)
    if problem is None and isinstance(params, str):
        try:
            params = lenient.load_object(params)
        except lenient.NotJSON:
            problem = '"params" must be a JSON object of the function\'s arguments'
    heartbeat = _as_bool(reply.get(HEARTBEAT, False))
    if problem is None and heartbeat is None:
        problem = f'"{HEARTBEAT}" must be true or false'
    if problem is not None:
        return LLMResponse(
            content=content, parse_error=f"The reply is not a valid function call: {problem}.", raw=text
        )
    arguments = dict(params or {})
    if _takes_heartbeat(str(function), tools):
        arguments[HEARTBEAT] = heartbeat
    call = LLMToolCall(
        id=new_call_id(), name=str(function), arguments=json.dumps(arguments, ensure_ascii=False)
    )
    return LLMResponse(content=content, tool_calls=[call], raw=text)


def _pick(reply: dict[str, Any], key: str) -> Any:
    return next((reply[alias] for alias in _ALIASES[key] if alias in reply), None)


def _check(function: Any, params: Any) -> str | None:
    if function is None:
        return 'it has no "function"'
    if not isinstance(function, str) or not function:
        return '"function" must be the name of a function'
    if params is not None and not isinstance(params, dict | str):
        return '"params" must be a JSON object of the function\'s arguments'
    return None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if value in (0, 1):
        return bool(value)
    return None


def _takes_heartbeat(name: str, tools: Sequence[dict[str, Any]]) -> bool:
    """Unknown functions keep the flag too: the engine reports the unknown name, not a lost flag."""
    for fn in functions(tools):
        if fn["name"] == name:
            return split_params(fn)[1]
    return True


class ReplyStream:
    """Forwards a JSON-mode reply's inner thoughts and send_message text as they arrive."""

    def __init__(self, on_token: OnToken) -> None:
        self._json = PartialJSON()
        self._on_token = on_token

    def feed(self, delta: str) -> None:
        reply = self._json.feed(delta)
        if thought := self._json.grown(reply, "inner_thoughts"):
            self._on_token("thought", thought)
        if reply.get("function") == "send_message" and (
            message := self._json.grown(reply, "params", "message")
        ):
            self._on_token("message", message)
