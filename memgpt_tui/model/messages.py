"""Messages as the agent sees them: OpenAI-shaped, immutable, stored verbatim in recall memory."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .clock import format_time, new_id, now

Role = Literal["system", "user", "assistant", "tool"]
# What a message is, beyond its role: drives styling in the UI and filtering in searches.
Kind = Literal[
    "user_message", "heartbeat", "login", "system_alert", "warning", "assistant", "tool_result", "summary"
]


class ToolCall(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    name: str
    arguments: str  # raw JSON text, exactly as the model produced it


class Message(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    role: Role
    kind: Kind
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    created_at: datetime = Field(default_factory=now)
    step: int = 0

    def to_openai(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.tool_calls
            ]
        if self.role == "tool":
            out["tool_call_id"] = self.tool_call_id
            out["name"] = self.name
        return out

    def user_text(self) -> str | None:
        """The human's words if this is a packaged user message, else None."""
        if self.kind != "user_message" or not self.content:
            return None
        try:
            return str(json.loads(self.content)["message"])
        except (ValueError, KeyError, TypeError):
            return self.content


def package(kind: str, **fields: Any) -> str:
    """MemGPT's JSON envelope for user input and system events."""
    return json.dumps({"type": kind, **fields, "time": format_time(now())}, ensure_ascii=False)


def user_message(text: str, step: int) -> Message:
    return Message(role="user", kind="user_message", content=package("user_message", message=text), step=step)


def system_event(kind: Kind, envelope_type: str, step: int, **fields: Any) -> Message:
    """A system event delivered on the user channel, as MemGPT does (heartbeats, alerts, login)."""
    return Message(role="user", kind=kind, content=package(envelope_type, **fields), step=step)
