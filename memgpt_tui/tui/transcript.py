"""Conversation entries: what the conversation pane shows, for recall history and for the live step.

History reads stored messages (``entries_from_messages``); the live step reads engine events. Both make
their entries with the same functions here (``call_entry``, ``result_entry``, ``thought_entry``,
``step_entry``), so history and live cannot disagree. Each entry keeps the id of the message it came
from (``source_id``): the pane uses it to load older messages. ``STEPS`` says what the UI shows for a
step, by why it runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..model.events import StepReason

if TYPE_CHECKING:
    from ..model.handle import AgentHandle
    from ..model.messages import Message

SystemKind = Literal[
    "heartbeat", "login", "warning", "alert", "summary", "notice", "command", "output", "divider"
]
# The row of a system message delivered to the agent; any other kind (a system alert) is an alert.
SYSTEM_ROWS: dict[str, SystemKind] = {"heartbeat": "heartbeat", "login": "login", "warning": "warning"}
HIDDEN_PREFIX = "[This is an automated system message hidden from the user]"


@dataclass
class UserEntry:
    text: str
    source_id: str | None = None


@dataclass
class ThoughtEntry:
    text: str
    source_id: str | None = None


@dataclass
class ReplyEntry:
    text: str
    source_id: str | None = None


@dataclass
class ToolEntry:
    call_id: str
    name: str
    arguments: dict[str, Any]
    ok: bool | None = None  # None until the result arrives
    result: str | None = None
    source_id: str | None = None


@dataclass
class SystemEntry:
    kind: SystemKind
    text: str
    source_id: str | None = None


@dataclass
class ErrorEntry:
    text: str
    hint: str = ""
    source_id: str | None = None


Entry = UserEntry | ThoughtEntry | ReplyEntry | ToolEntry | SystemEntry | ErrorEntry


@dataclass(frozen=True)
class StepText:
    """What the UI says about a step, by why it runs (``StepReason``)."""

    status: str  # the status bar while it runs: "<agent> is <status>… step <n>"
    line: tuple[SystemKind, str] | None = None  # the conversation's line as it starts


STEPS: dict[StepReason, StepText] = {
    "user": StepText("thinking"),  # the user's message is its own row
    "heartbeat": StepText("continuing (heartbeat)", ("heartbeat", "Heartbeat: the agent continues")),
    "failure": StepText(
        "recovering from a failed function call", ("heartbeat", "Heartbeat after a failed function call")
    ),
    "warning": StepText(
        "saving memories (memory-pressure warning)", ("warning", "Memory-pressure warning sent to the agent")
    ),
    "login": StepText("greeting you", ("login", "Login: the agent greets you")),
    "retry": StepText("answering again", ("notice", "Retrying your last message")),
    "command": StepText("working"),
}


def entries_from_messages(messages: Iterable[Message]) -> list[Entry]:
    out: list[Entry] = []
    open_calls: dict[str, ToolEntry] = {}  # calls shown without their results yet
    for message in messages:
        out.extend(_entries(message, open_calls))
    return out


def call_entry(
    call_id: str, name: str, arguments: dict[str, Any], source_id: str | None = None
) -> ReplyEntry | ToolEntry:
    """``send_message`` is the agent talking to the user: a reply. Any other call is a tool entry."""
    if name == "send_message" and isinstance(arguments.get("message"), str):
        return ReplyEntry(arguments["message"], source_id)
    return ToolEntry(call_id, name, arguments, source_id=source_id)


def result_entry(
    call_id: str, name: str, ok: bool, text: str, source_id: str | None = None
) -> ToolEntry | None:
    """A result whose call has no tool entry to complete: a reply that was sent needs none."""
    if ok and name == "send_message":
        return None
    return ToolEntry(call_id, name, {}, ok, text, source_id)


def thought_entry(text: str | None, source_id: str | None = None) -> ThoughtEntry | None:
    return ThoughtEntry(text, source_id) if text else None


def step_entry(reason: StepReason) -> SystemEntry | None:
    """The line that says why a step started, for the reasons other than the user's message."""
    line = STEPS[reason].line
    return SystemEntry(*line) if line is not None else None


def _entries(message: Message, open_calls: dict[str, ToolEntry]) -> list[Entry]:
    source_id = message.id
    if message.kind == "user_message":
        return [UserEntry(message.user_text() or "", source_id)]
    if message.kind == "assistant":
        return _assistant(message, open_calls)
    if message.kind == "tool_result":
        return _tool_result(message, open_calls)
    if message.kind == "summary":
        return [SystemEntry("summary", f"Summary of earlier messages: {message.content or ''}", source_id)]
    envelope = _json(message.content)
    text = system_text(message.kind, envelope)
    return [SystemEntry(SYSTEM_ROWS.get(message.kind, "alert"), text, source_id)]


def _assistant(message: Message, open_calls: dict[str, ToolEntry]) -> list[Entry]:
    thought = thought_entry(message.content, message.id)
    out: list[Entry] = [thought] if thought is not None else []
    for call in message.tool_calls:
        entry = call_entry(call.id, call.name, _json(call.arguments), message.id)
        if isinstance(entry, ToolEntry):
            open_calls[call.id] = entry
        out.append(entry)
    return out


def _tool_result(message: Message, open_calls: dict[str, ToolEntry]) -> list[Entry]:
    body = _json(message.content)
    ok = body.get("status", "OK") == "OK"
    text = str(body.get("message", message.content or ""))
    entry = open_calls.pop(message.tool_call_id or "", None)
    if entry is not None:
        entry.ok, entry.result = ok, text
        return []
    orphan = result_entry(message.tool_call_id or "", message.name or "?", ok, text, message.id)
    return [orphan] if orphan is not None else []


def system_text(kind: str, envelope: dict[str, Any]) -> str:
    """One line for a system event delivered to the agent (heartbeat, login, alert)."""
    if kind == "login":
        return f"Login (last login: {envelope.get('last_login', 'unknown')})"
    if kind == "heartbeat":
        return f"Heartbeat: {strip_hidden(str(envelope.get('reason', '')))}".rstrip(": ")
    if kind == "warning":
        return "Memory-pressure warning sent to the agent"
    return strip_hidden(str(envelope.get("message", envelope or "")))


def strip_hidden(text: str) -> str:
    return text.removeprefix(HIDDEN_PREFIX).strip()


def _json(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "")
    except ValueError:
        return {"message": text or ""}
    return value if isinstance(value, dict) else {"message": text or ""}


async def older_messages(agent: AgentHandle, before_id: str | None, limit: int) -> tuple[list[Message], bool]:
    """Up to ``limit`` recall messages just before ``before_id``, oldest first, read off the UI loop, and
    whether they reach the first message. A page never starts with a tool result cut off from its call:
    that one comes with the next page."""
    if limit <= 0:
        return [], False
    found = await agent.older_messages(before_id, limit)
    batch = sorted(found, key=lambda m: m.id)
    if len(batch) < limit:
        return batch, True
    start = next((i for i, m in enumerate(batch) if m.kind != "tool_result"), 0)
    return batch[start:], False
