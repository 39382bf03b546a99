"""Engine events and stored messages as wire records: the one mapping that the server, line mode and the
Client share.

A record is a JSON-ready dict with a ``message_type``: Letta's name where Letta has the kind of message
(``reasoning_message``, ``tool_call_message``, ``tool_return_message``, ``assistant_message``,
``user_message``, ``system_message``), ours with an ``x_`` prefix for what Letta has no message for
(``x_token``, ``x_core_memory_changed``, ``x_context_changed``, ``x_checkpoint_created``, ...).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from typing import Any

from .model import events as ev
from .model.messages import Message

REPLY_FUNCTION = "send_message"  # its call is the assistant's message, not a tool call to show
# The header of an edit's answer that says whether it changed anything ("true" or "false"): a body in
# Letta's shape stays Letta's, and a save that changed nothing has no event to wait for.
CHANGED_HEADER = "X-Memgpt-Changed"


@functools.cache
def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


LETTA_TYPES = frozenset(
    {"reasoning_message", "tool_call_message", "tool_return_message", "assistant_message"}
)


# The events ``record`` makes a Letta message of (one of ``LETTA_TYPES``): the rest are ours.
LETTA_EVENTS: tuple[type[ev.Event], ...] = (
    ev.InnerThought,
    ev.FunctionCalled,
    ev.FunctionReturned,
    ev.AssistantMessage,
)


def record(event: ev.Event) -> dict[str, Any]:
    """The wire record of one engine event."""
    match event:
        case ev.InnerThought(text=text):
            return {"message_type": "reasoning_message", "reasoning": text}
        case ev.FunctionCalled(call_id=call_id, name=name, arguments=arguments):
            return _tool_call(call_id, name, json.dumps(arguments, ensure_ascii=False))
        case ev.FunctionReturned(call_id=call_id, name=name, ok=ok, message=message):
            return _tool_return(call_id, name, ok, message)
        case ev.AssistantMessage(text=text):
            return {"message_type": "assistant_message", "content": text}
    fields = dataclasses.asdict(event)
    said = getattr(event, "text", None)
    if isinstance(said, str):  # a property on some events (a cancel, a discarded attempt)
        fields["text"] = said
    return {"message_type": "x_" + _snake(type(event).__name__), **fields}


_EVENTS: dict[str, type[ev.Event]] = {
    "x_" + _snake(cls.__name__): cls
    for cls in vars(ev).values()
    if isinstance(cls, type) and issubclass(cls, ev.Event) and cls is not ev.Event
}


def event(item: dict[str, Any]) -> ev.Event | None:
    """The engine event a record of ``record`` came from (None for a record of no event): what an
    agent on a server sends, as a local agent would have emitted it."""
    match item["message_type"]:
        case "reasoning_message":
            return ev.InnerThought(item["reasoning"])
        case "tool_call_message":
            call = item["tool_call"]
            return ev.FunctionCalled(call["tool_call_id"], call["name"], _arguments(call["arguments"]))
        case "tool_return_message":
            ok = item["status"] == "success"
            return ev.FunctionReturned(item["tool_call_id"], item["name"], ok, item["tool_return"])
        case "assistant_message":
            return ev.AssistantMessage(item["content"])
    cls = _EVENTS.get(item["message_type"])
    if cls is None:
        return None
    fields = {f.name: item[f.name] for f in dataclasses.fields(cls) if f.name in item}
    if cls is ev.ContextChanged:
        fields["breakdown"] = ev.TokenBreakdown(**fields["breakdown"])
    for name, value in fields.items():
        if isinstance(value, list):  # JSON has no tuples
            fields[name] = tuple(value)
    return cls(**fields)


def _arguments(text: str) -> dict[str, Any]:
    try:
        parsed = json.loads(text)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def shown(item: dict[str, Any]) -> bool:
    """A Letta message a reader sees: the reply function's call and return are the assistant's message."""
    if item["message_type"] not in LETTA_TYPES:
        return False
    if item["message_type"] == "tool_call_message":
        return item["tool_call"]["name"] != REPLY_FUNCTION
    if item["message_type"] == "tool_return_message":
        return item["name"] != REPLY_FUNCTION
    return True


def token_chunk(item: dict[str, Any]) -> dict[str, Any]:
    """An ``x_token`` record as Letta streams tokens: a piece of a reasoning or assistant message."""
    if item["channel"] == "thought":
        return {"message_type": "reasoning_message", "reasoning": item["text"]}
    return {"message_type": "assistant_message", "content": item["text"]}


def message_records(message: Message) -> list[dict[str, Any]]:
    """A stored message as Letta lists it: an assistant message is its reasoning, then its calls (the
    reply function's as an assistant message); each record carries the stored message's id and date."""
    stamp = {"id": message.id, "date": message.created_at.isoformat()}
    out: list[dict[str, Any]] = []
    if message.role == "assistant":
        if message.content:
            out.append({"message_type": "reasoning_message", "reasoning": message.content})
        for call in message.tool_calls:
            if call.name == REPLY_FUNCTION:
                out.append({"message_type": "assistant_message", "content": _reply_text(call.arguments)})
            else:
                out.append(_tool_call(call.id, call.name, call.arguments))
    elif message.role == "tool":
        if message.name != REPLY_FUNCTION:
            ok, text = _result(message.content or "")
            out.append(_tool_return(message.tool_call_id or "", message.name or "", ok, text))
    elif message.kind == "user_message":
        out.append({"message_type": "user_message", "content": message.user_text() or ""})
    elif message.role == "user":  # heartbeats, logins, alerts: MemGPT's events on the user channel
        out.append({"message_type": "user_message", "content": message.content or ""})
    else:
        out.append({"message_type": "system_message", "content": message.content or ""})
    return [{**stamp, **item} for item in out]


def _tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    call = {"name": name, "arguments": arguments, "tool_call_id": call_id}
    return {"message_type": "tool_call_message", "tool_call": call}


def _tool_return(call_id: str, name: str, ok: bool, message: str) -> dict[str, Any]:
    return {
        "message_type": "tool_return_message",
        "tool_call_id": call_id,
        "name": name,
        "status": "success" if ok else "error",
        "tool_return": message,
    }


def _reply_text(arguments: str) -> str:
    try:
        return str(json.loads(arguments)["message"])
    except (ValueError, KeyError, TypeError):
        return arguments


def _result(content: str) -> tuple[bool, str]:
    """A function result's status and message, from MemGPT's envelope."""
    try:
        envelope = json.loads(content)
        return envelope["status"] == "OK", str(envelope["message"])
    except (ValueError, KeyError, TypeError):
        return True, content
