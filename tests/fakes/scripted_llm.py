"""A scripted LLM backend for engine logic: replies come from a queue; every request is recorded."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from memgpt_tui.llm.base import LLMResponse, LLMToolCall, OnToken
from memgpt_tui.llm.layout import NativeLayout
from memgpt_tui.model.errors import LLMError

Reply = LLMResponse | Exception | Callable[[list[dict[str, Any]]], LLMResponse]


class WordTokenizer:
    """Deterministic and exact by definition: one token per whitespace-separated word."""

    exact = True

    async def count(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]


class PieceTokenizer:
    """Words, punctuation marks and whitespace runs, plus a start-of-text token on every count, as
    llama.cpp's tokenize endpoints add one."""

    def __init__(self, exact: bool = True) -> None:
        self.exact = exact
        self.calls = 0

    async def count(self, texts: Sequence[str]) -> list[int]:
        self.calls += 1
        return [len(re.findall(r"\s+|\w+|[^\w\s]", text)) + 1 for text in texts]


def call(name: str, thought: str = "thinking", heartbeat: bool | None = None, **args: Any) -> LLMResponse:
    if heartbeat is not None:
        args["request_heartbeat"] = heartbeat
    return LLMResponse(
        content=thought,
        tool_calls=[LLMToolCall(id=f"call_{name}_{id(args)}", name=name, arguments=json.dumps(args))],
    )


def say(text: str, thought: str = "I should answer.") -> LLMResponse:
    return call("send_message", thought, message=text)


def raw(name: str, arguments: str, thought: str = "thinking") -> LLMResponse:
    return LLMResponse(
        content=thought, tool_calls=[LLMToolCall(id=f"call_{name}", name=name, arguments=arguments)]
    )


QUESTION = "Which facts do you know?"


async def answer_after_searches(agent: Any, llm: ScriptedLLM, searches: int) -> None:
    """The user asks ``QUESTION``; the agent searches archival memory ``searches`` times, each search
    bringing back a long passage, then answers."""
    await agent.insert_archival(" ".join(f"fact{i}" for i in range(300)))
    llm.queue(*[call("archival_memory_search", heartbeat=True, query="facts") for _ in range(searches)])
    llm.queue(say("I know three hundred facts."))
    await agent.send(QUESTION)


class ScriptedLLM:
    name = "scripted"
    model = "scripted"

    def __init__(
        self, replies: Sequence[Reply] = (), context_window: int = 4000, summary: str = "SUMMARY"
    ) -> None:
        self.replies = list(replies)
        self.context_window = context_window
        self.tokenizer = WordTokenizer()
        self.layout = NativeLayout()
        self.summary = summary
        self.requests: list[list[dict[str, Any]]] = []
        self.summary_requests: list[list[dict[str, Any]]] = []
        self.block: asyncio.Event | None = None  # set to hold a call open (cancellation tests)
        self.closed = False

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        on_token: OnToken | None = None,
        require_tool: bool = True,
    ) -> LLMResponse:
        if not require_tool:  # the summariser
            self.summary_requests.append(messages)
            return LLMResponse(content=self.summary)
        self.requests.append(messages)
        if self.block is not None:
            await self.block.wait()
        if not self.replies:
            raise LLMError("script exhausted", retryable=False)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            reply = reply(messages)
        if on_token and reply.content:
            for word in reply.content.split(" "):
                on_token("thought", word + " ")
        return reply

    async def aclose(self) -> None:
        self.closed = True
