"""A few-shot transcript for base models, which continue text rather than follow instructions.

The prompt reads as a log: the function list, a short example exchange (a stated fact saved with
core_memory_append, then a question answered from core memory), the agent's own system prompt and
core memory, then the conversation, one line per message, ending with ``ASSISTANT: ``. The example
comes first so that the prompt's prefix stays the same when core memory changes, and the server's
prompt cache is reused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from memgpt_tui.llm import json_mode
from memgpt_tui.llm.grammar import Caps

from .base import Turn, Wrapper, envelope

LABELS = {"user": "USER", "system": "SYSTEM", "function": "FUNCTION RETURN", "assistant": "ASSISTANT"}

_INTRO = """\
This is the log of an agent with a memory. Every ASSISTANT line is one JSON function call:
inner_thoughts (private, short), the function and its params. When the user tells a lasting fact, the \
agent saves it with core_memory_append (label "human") and asks for a heartbeat; then it replies with \
send_message. When the user asks something, the agent answers from its core memory with send_message."""

_OK = '{"status": "OK", "message": "None", "time": "2024-03-01 10:02:11 AM UTC+0000"}'


def _call(thoughts: str, name: str, heartbeat: bool | None = None, **params: Any) -> dict[str, Any]:
    arguments = {**params, **({} if heartbeat is None else {json_mode.HEARTBEAT: heartbeat})}
    call = {"id": "", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
    return {"role": "assistant", "content": thoughts, "tool_calls": [call]}


def _said(text: str) -> dict[str, Any]:
    return {"role": "user", "content": json.dumps({"type": "user_message", "message": text})}


def _event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"role": "user", "content": json.dumps({"type": kind, **fields})}


def _returned(name: str) -> dict[str, Any]:
    return {"role": "tool", "name": name, "content": _OK}


_EXAMPLE_MEMORY = "<human>\nFirst name: Priya\nPriya has a dog called Biscuit.\n</human>"
_EXAMPLE = [
    _said("Hello again!"),
    _call("Priya is back. I greet her.", "send_message", message="Hi Priya! How is Biscuit doing?"),
    _said("He's great. Oh, and I started working as a nurse in Leeds."),
    _call(
        "A new fact about Priya. I save it in core memory.",
        "core_memory_append",
        heartbeat=True,
        label="human",
        content="Priya works as a nurse in Leeds.",
    ),
    _returned("core_memory_append"),
    _event("heartbeat", reason="Function called using request_heartbeat=true, returning control."),
    _call("Saved. Now I answer her.", "send_message", message="A nurse in Leeds, that's wonderful!"),
    _said("What's my dog called?"),
    _call(
        "My core memory says her dog is called Biscuit.",
        "send_message",
        message="Your dog is called Biscuit!",
    ),
]


class Transcript(Wrapper):
    name = "transcript"
    summary = "few-shot transcript for base (not instruction-tuned) models; the bundled model's default"
    stop = ("\nUSER:", "\nSYSTEM:", "\nFUNCTION RETURN:")
    offers = frozenset({"send_message", "core_memory_append", "core_memory_replace", "conversation_search"})
    # Short thoughts and replies: a small model rambles, and every token costs on a CPU.
    caps = Caps(thoughts=150, text=300)

    def tools_text(self, tools: Sequence[dict[str, Any]]) -> str:
        lines = [_INTRO, "", "Functions:"]
        for fn in json_mode.functions(tools):
            params, heartbeat = json_mode.split_params(fn)
            names = [*(params.get("properties") or {}), *([json_mode.HEARTBEAT] if heartbeat else [])]
            lines.append(f"- {fn['name']}({', '.join(names)}): {fn.get('description', '').strip()}")
        example = "\n".join(f"{LABELS[role]}: {text}" for role, text in map(self.turn, _EXAMPLE))
        lines += ["", "### EXAMPLE", "Core memory:", _EXAMPLE_MEMORY, example, "### END OF EXAMPLE"]
        return "\n".join(lines)

    def system_text(self, system: str, tools_text: str) -> str:
        return f"{tools_text}{json_mode.JOIN}{system}{json_mode.JOIN}### CONVERSATION"

    def turn(self, message: dict[str, Any]) -> tuple[str, str]:
        role = message["role"]
        if role == "assistant":
            return "assistant", json_mode.to_text_turn(message)["content"]
        content = str(message.get("content") or "")
        if role == "tool":
            return "function", content
        packed = envelope(content) if role == "user" else None
        if packed is None:
            return "system" if role == "system" else "user", content
        if packed["type"] == "user_message":
            return "user", str(packed.get("message", ""))
        fields = {k: v for k, v in packed.items() if k not in ("type", "time")}
        text = " ".join(str(v) for v in fields.values())
        return "system", f"{packed['type']}: {text}" if text else str(packed["type"])

    def frame(self, turns: Sequence[Turn]) -> str:
        lines = [
            t["content"] if t["role"] == "system" and i == 0 else f"{LABELS[t['role']]}: {t['content']}"
            for i, t in enumerate(turns)
        ]
        return "\n".join([*lines, "ASSISTANT: "])


TRANSCRIPT = Transcript()
