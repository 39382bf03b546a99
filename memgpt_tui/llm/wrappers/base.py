"""What a wrapper is: the whole context (system prompt, memory, functions, messages) as one text
prompt for a completions endpoint, in a format the model knows, ending where its reply begins."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from memgpt_tui.llm import json_mode
from memgpt_tui.llm.grammar import PRIMER, Caps, gbnf, reply_schema

from .closeness import TextEmbedder

Turn = dict[str, str]  # {"role": ..., "content": ...}: one message as the prompt shows it


@dataclass(frozen=True, slots=True)
class Decision:
    """A choice the model makes in a request of its own, before its reply: the prompt, ending where
    the choice is written, and the words it may write there (the last one when it writes none)."""

    prompt: str
    options: tuple[str, ...]

    def read(self, text: str) -> str:
        word = text.strip()
        return word if word in self.options else self.options[-1]


class Wrapper(ABC):
    name: str
    summary: str  # one line, for the help and the README
    stop: tuple[str, ...] = ()  # where a reply ends if the grammar does not end it first
    # Function names offered to the model; None: all of them. A small model picks better among few.
    offers: frozenset[str] | None = None
    caps = Caps()  # what the grammar lets the model write at most
    partial = False  # the prompt shows only part of the context (``PromptLayout.partial``)

    def using(self, embedder: TextEmbedder) -> Wrapper:
        """This wrapper ranking what it shows with ``embedder``; a wrapper that ranks nothing is itself."""
        return self

    async def prepare(self, messages: Sequence[dict[str, Any]]) -> None:
        """Work a request needs done off the event loop before it is rendered (embeddings)."""
        return None  # most wrappers need none

    def offered(self, tools: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.offers is None:
            return list(tools)
        return [t for t in tools if t.get("function", t)["name"] in self.offers]

    @abstractmethod
    def tools_text(self, tools: Sequence[dict[str, Any]]) -> str:
        """The instructions and function list as the model reads them."""

    def system_text(self, system: str, tools_text: str) -> str:
        """The first turn: the system message (prompt, memory) with the function text."""
        return f"{system}{json_mode.JOIN}{tools_text}" if tools_text else system

    @abstractmethod
    def turn(self, message: dict[str, Any]) -> tuple[str, str]:
        """The role and text an OpenAI-shaped message after the system message becomes."""

    @abstractmethod
    def frame(self, turns: Sequence[Turn]) -> str:
        """The prompt text around the turns, ending with the start of the reply."""

    def decision(self, messages: Sequence[dict[str, Any]], decided: Sequence[str] = ()) -> Decision | None:
        """What the model chooses next before it replies, after the words ``decided`` so far; None: it
        chooses as it replies."""
        return None

    def start(self, messages: Sequence[dict[str, Any]], decided: Sequence[str] = ()) -> str:
        """The reply's first characters, which a primed prompt ends with."""
        return PRIMER

    def grammar(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], decided: Sequence[str] = ()
    ) -> str | None:
        """The GBNF of what follows ``start``; None: ``start`` is the whole reply, and the model has
        nothing left to write."""
        return gbnf(self.offered(tools), self.caps, primed=True)

    def schema(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], decided: Sequence[str] = ()
    ) -> dict[str, Any]:
        """The same constraint as JSON schema, for the whole reply (servers without GBNF)."""
        return reply_schema(self.offered(tools), self.caps)

    def prompt(
        self,
        messages: Sequence[dict[str, Any]],
        tools: Sequence[dict[str, Any]],
        *,
        primed: bool = True,
        decided: Sequence[str] = (),
    ) -> str:
        """The whole prompt; ``primed``: ending with the start of the reply."""
        return self.render(messages, tools, decided) + (self.start(messages, decided) if primed else "")

    def render(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], decided: Sequence[str]
    ) -> str:
        """The prompt up to where the reply starts."""
        return self.frame(self.turns(messages, tools))

    def turns(self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]) -> list[Turn]:
        system = str(messages[0].get("content") or "") if messages else ""
        turns = [
            {"role": "system", "content": self.system_text(system, self.tools_text(self.offered(tools)))}
        ]
        for message in messages[1:]:
            role, text = self.turn(message)
            turns.append({"role": role, "content": text})
        return turns


def envelope(content: str) -> dict[str, Any] | None:
    """A user-channel message's JSON envelope (``{"type": "user_message", ...}``), if it is one."""
    try:
        value = json.loads(content)
    except ValueError:
        return None
    return value if isinstance(value, dict) and "type" in value else None
