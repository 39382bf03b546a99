"""Chat formats for instruction-tuned models on completion-only servers: ChatML, Llama 3, Gemma, and
the Airoboros and Zephyr formats of MemGPT's older wrappers.

The turns are JSON mode's (``json_mode.to_text_turn``: replies as JSON calls, function results and
system events as user turns) and the instructions too; only the markers around the turns differ.
The server adds the beginning-of-text token itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from memgpt_tui.llm import json_mode

from .base import Turn, Wrapper


class ChatFormat(Wrapper):
    def __init__(
        self,
        name: str,
        summary: str,
        *,
        open_turn: str,
        close_turn: str,
        roles: dict[str, str],
        stop: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.summary = summary
        self._open = open_turn  # with {role}
        self._close = close_turn
        self._roles = roles
        self.stop = stop or (close_turn.strip(),)

    def tools_text(self, tools: Sequence[dict[str, Any]]) -> str:
        return json_mode.tools_prompt(tools)

    def turn(self, message: dict[str, Any]) -> tuple[str, str]:
        turn = json_mode.to_text_turn(message)
        return turn["role"], turn["content"]

    def frame(self, turns: Sequence[Turn]) -> str:
        parts = [
            f"{self._open.format(role=self._roles[t['role']])}{t['content']}{self._close}" for t in turns
        ]
        return "".join(parts) + self._open.format(role=self._roles["assistant"])


CHATML = ChatFormat(
    "chatml",
    "ChatML (<|im_start|>): Qwen, Hermes, Dolphin, Yi and other instruction-tuned models",
    open_turn="<|im_start|>{role}\n",
    close_turn="<|im_end|>\n",
    roles={"system": "system", "user": "user", "assistant": "assistant"},
)
LLAMA3 = ChatFormat(
    "llama3",
    "Llama 3 (<|start_header_id|>): Llama 3.x Instruct",
    open_turn="<|start_header_id|>{role}<|end_header_id|>\n\n",
    close_turn="<|eot_id|>",
    roles={"system": "system", "user": "user", "assistant": "assistant"},
)
# Gemma has no system role: the system turn is the first user turn.
GEMMA = ChatFormat(
    "gemma",
    "Gemma (<start_of_turn>): Gemma 2/3 instruction-tuned models",
    open_turn="<start_of_turn>{role}\n",
    close_turn="<end_of_turn>\n",
    roles={"system": "user", "user": "user", "assistant": "model"},
)
# Airoboros 2.1 (Vicuna style): the system text unmarked, then USER: / ASSISTANT: lines.
AIROBOROS = ChatFormat(
    "airoboros",
    "Airoboros 2.1 (USER: / ASSISTANT:): airoboros-l2 and other Vicuna-style models",
    open_turn="{role}",
    close_turn="\n",
    roles={"system": "", "user": "USER: ", "assistant": "ASSISTANT: "},
    stop=("\nUSER:",),
)
ZEPHYR = ChatFormat(
    "zephyr",
    "Zephyr (<|user|> ... </s>): zephyr-7b and other Mistral fine-tunes in its format",
    open_turn="<|{role}|>\n",
    close_turn="</s>\n",
    roles={"system": "system", "user": "user", "assistant": "assistant"},
)
