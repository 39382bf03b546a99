"""Prompt text: templates shipped in memgpt_tui/prompts/, overridable by files in the config dir."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path

from ..config import user_dir
from ..model.clock import format_time, new_id
from ..model.messages import Message, ToolCall, system_event
from ..model.state import Block

SHIPPED = Path(__file__).resolve().parent.parent / "prompts"


@cache
def template(name: str) -> str:
    """``prompts/<name>.txt`` from the user's config dir if present, else the shipped one."""
    for root in (user_dir("prompts"), SHIPPED):
        path = root / f"{name}.txt"
        if path.is_file():
            return path.read_text(encoding="utf-8").strip()
    raise FileNotFoundError(f"prompt template {name!r} is missing from {SHIPPED}")


def memory_header(edited_at: datetime, recall_count: int, archival_count: int) -> str:
    return (
        f"### Memory [last modified: {format_time(edited_at)}]\n"
        f"{recall_count} previous messages between you and the user are stored in recall memory "
        "(use functions to access them)\n"
        f"{archival_count} total memories you created are stored in archival memory "
        "(use functions to access them)\n\n"
        "Core memory shown below (limited in size, additional information stored in archival / recall memory):"
    )


def render_core(blocks: list[Block]) -> str:
    return "\n".join(block.render() for block in blocks)


def summary_alert(summary: str, hidden: int) -> str:
    return json.dumps(
        {
            "type": "system_alert",
            "message": f"Note: {hidden} prior messages have been moved out of view into recall memory. "
            f"The conversation so far, summarised: {summary}",
        },
        ensure_ascii=False,
    )


def heartbeat(step: int, reason: str) -> Message:
    return system_event("heartbeat", "heartbeat", step, reason=reason)


HIDDEN = "[This is an automated system message hidden from the user]"


def failed_heartbeat(step: int, detail: str) -> Message:
    return heartbeat(step, f"{HIDDEN} Function call failed: {detail} Returning control.")


def requested_heartbeat(step: int) -> Message:
    return heartbeat(step, f"{HIDDEN} Function called using request_heartbeat=true, returning control.")


def memory_warning(step: int) -> Message:
    return system_event(
        "warning",
        "system_alert",
        step,
        message=f"{HIDDEN} The conversation history will soon "
        "reach its maximum length and be trimmed. Save anything important from it to your core memory "
        "(core_memory_append / core_memory_replace) or archival memory (archival_memory_insert) now.",
    )


def login_event(step: int, last_login: str) -> Message:
    return system_event("login", "login", step, last_login=last_login)


def boot_sequence() -> list[Message]:
    """The assistant's first turn: a send_message call and its result, so the model sees the pattern."""
    call = ToolCall(
        id=f"call_{new_id()}",
        name="send_message",
        arguments=json.dumps({"message": "Hello! I'm awake and ready to talk."}),
    )
    assistant = Message(
        role="assistant",
        kind="assistant",
        content="Boot sequence complete. Persona loaded. Checking that messages reach the user.",
        tool_calls=(call,),
    )
    result = Message(
        role="tool",
        kind="tool_result",
        name="send_message",
        tool_call_id=call.id,
        content=json.dumps({"status": "OK", "message": "None", "time": format_time(assistant.created_at)}),
    )
    return [assistant, result]
