"""A conversation as readable Markdown: who spoke and when, the replies in the open, and inner thoughts,
function calls with their results and system events folded in ``<details>``."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence

from ..model.clock import format_time, now
from ..model.messages import Message, ToolCall
from ..model.state import AgentState

_EVENTS = {
    "heartbeat": "Heartbeat",
    "login": "Login",
    "system_alert": "System alert",
    "warning": "Memory warning",
}


def render(state: AgentState, messages: Sequence[Message]) -> str:
    results = {m.tool_call_id: m for m in messages if m.role == "tool" and m.tool_call_id}
    called = {c.id for m in messages for c in m.tool_calls}
    out = [
        f"# Conversation with {state.name}",
        "",
        f"Exported {format_time(now())} from memgpt-tui · {state.config.backend}:{state.config.model} · "
        f"{len(messages)} messages",
    ]
    for m in messages:
        when = format_time(m.created_at)
        if m.kind == "user_message":
            out += ["", f"### You · {when}", "", _plain(m.user_text() or "")]
        elif m.role == "assistant":
            out += ["", f"### {state.name} · {when}"]
            if m.content:
                out += _details("Inner thoughts", _plain(m.content))
            for call in m.tool_calls:
                out += _call(call, results.get(call.id))
        elif m.role == "tool" and m.tool_call_id not in called:
            out += _details(f"Function result: {m.name or 'unknown'}", _fenced(*_pretty(m.content or "")))
        elif m.role == "user":
            out += _details(f"{_EVENTS.get(m.kind, 'System event')} · {when}", _plain(_event_text(m)))
    return "\n".join(out).rstrip() + "\n"


def _call(call: ToolCall, result: Message | None) -> list[str]:
    if call.name == "send_message":
        return ["", _plain(_argument(call.arguments, "message") or call.arguments)]
    body = f"Arguments:\n\n{_fenced(*_pretty(call.arguments))}"
    if result is not None:
        body += f"\n\nResult:\n\n{_fenced(*_pretty(result.content or ''))}"
    return _details(f"Function call: {call.name}", body)


def _plain(text: str) -> str:
    """Text shown as it is: an angle bracket in it must not open or close an HTML tag (``</details>``)."""
    return html.escape(text, quote=False)


def _details(summary: str, body: str) -> list[str]:
    return ["", f"<details><summary>{summary}</summary>", "", body, "", "</details>"]


def _fenced(text: str, language: str = "") -> str:
    """A code block whose fence is longer than any run of backticks inside."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def _pretty(text: str) -> tuple[str, str]:
    """The text, indented if it is JSON, and the language of its code block."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False), "json"
    except ValueError:
        return text, ""


def _argument(arguments: str, key: str) -> str | None:
    try:
        value = json.loads(arguments).get(key)
    except (ValueError, AttributeError):
        return None
    return str(value) if value is not None else None


def _event_text(message: Message) -> str:
    try:
        envelope = json.loads(message.content or "")
    except ValueError:
        return message.content or ""
    if not isinstance(envelope, dict):
        return message.content or ""
    return str(
        envelope.get("message") or envelope.get("reason") or envelope.get("last_login") or message.content
    )
