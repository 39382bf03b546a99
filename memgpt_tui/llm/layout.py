"""Prompt layouts: what each message becomes in a backend's request, and what the chat template adds
around it, so the context gauge counts the prompt as sent, one cached message at a time."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from memgpt_tui.llm import json_mode
from memgpt_tui.llm.base import TemplateCost, Tokenizer

# Role markers and delimiters of a template out of sight (a provider's own, or an unknown server's).
TURN_ESTIMATE = 4
_ESTIMATED = TemplateCost(turn=TURN_ESTIMATE)

# Text turns to the prompt text a server's chat template makes of them.
Template = Callable[[Sequence[dict[str, str]]], str]
# What template costs are measured around: every message of the context is a JSON object.
_SAMPLE = json.dumps({"message": "hi"})


class NativeLayout:
    """Native tool calls: messages and function schemas go as JSON, through a template the provider
    keeps to itself. A message counts as its role, text and calls, plus an estimate per turn."""

    system_role = "system"
    merges = False
    partial = False

    def tools_text(self, tools: Sequence[dict[str, Any]]) -> str:
        return json.dumps(list(tools), separators=(",", ":")) if tools else ""

    def offered(self, tools: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
        return tools

    def turn(self, message: dict[str, Any]) -> tuple[str, str]:
        parts = [message["role"], message.get("content") or ""]
        for call in message.get("tool_calls") or ():
            parts += [call["function"]["name"], call["function"]["arguments"]]
        return message["role"], "\n".join(parts)

    async def cost(self) -> TemplateCost:
        return _ESTIMATED


class JsonModeLayout:
    """JSON mode: every message goes as a plain text turn (``json_mode.to_text_turns``). With the
    server's chat ``template`` known, its costs are measured once with the server's tokenizer; without
    it, only the text joining merged turns is measured and each turn is estimated."""

    merges = True
    partial = False

    def __init__(self, tokenizer: Tokenizer, *, fold_system: bool, template: Template | None = None) -> None:
        self.system_role = "user" if fold_system else "system"
        self._tokenizer = tokenizer
        self._template = template
        self._cost: TemplateCost | None = None

    def tools_text(self, tools: Sequence[dict[str, Any]]) -> str:
        return json_mode.tools_prompt(tools)

    def offered(self, tools: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
        return tools

    def turn(self, message: dict[str, Any]) -> tuple[str, str]:
        turn = json_mode.to_text_turn(message)
        return turn["role"], turn["content"]

    async def cost(self) -> TemplateCost:
        if self._cost is None:
            cost = await self._measure()
            if not self._tokenizer.exact:
                return cost  # measured on estimates: measured again next time
            self._cost = cost
        return self._cost

    async def _measure(self) -> TemplateCost:
        # Each cost is the prompt's count less the counts of the texts in it, so whatever the
        # tokenizer adds to every count (a start-of-text token) is accounted for too.
        merged = _SAMPLE + json_mode.JOIN + _SAMPLE
        if self._template is None:
            sample, joined = await self._tokenizer.count([_SAMPLE, merged])
            return TemplateCost(turn=TURN_ESTIMATE, join=joined - 2 * sample)
        one, two = {"role": "user", "content": _SAMPLE}, {"role": "user", "content": merged}
        texts = [self._template([]), self._template([one]), self._template([two]), _SAMPLE]
        bare, single, double, sample = await self._tokenizer.count(texts)
        return TemplateCost(turn=single - bare - sample, join=double - single - sample, prompt=bare)
