"""The embedded model (llama.cpp server + gemma-3-270m) under a full MemGPT prompt.

A new agent on the embedded backend starts the server as the app does. Then:
  first token and tokens/s: the agent's whole first prompt as its wrapper renders it (functions,
    example, system prompt, core memory, boot messages, a user message), streamed with the reply
    grammar the backend sends (``--reply_tokens`` tokens); first on a server that has evaluated
    nothing (cold), then the next turn's prompt, which extends it (the server reuses the prefix);
  gauge error: after each of ``--turns`` user turns, the context gauge's count of the agent's
    context against the server's own usage.prompt_tokens for exactly that prompt (non-streamed).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import openai

from memgpt_tui import runtime
from memgpt_tui.config import Settings
from memgpt_tui.engine.agent import Agent
from memgpt_tui.engine.functions import TOOL_SCHEMAS
from memgpt_tui.llm.grammar import PRIMER, gbnf
from memgpt_tui.model.messages import user_message

from .common import Figure, private_home
from .report import standalone

REPLY_TOKENS = 48
QUESTIONS = [
    "Hi! I'm Chad. I just moved to Lisbon and I am learning to surf.",
    "Can you remember that my sister's name is Ana and she is a nurse?",
    "What do you know about me so far?",
    "I think I will try the beach at Carcavelos this weekend.",
    "Tell me something you find interesting about the ocean.",
    "Do you remember where I live now?",
]


async def stream_timing(
    client: openai.AsyncOpenAI, prompt: str, grammar: str, reply_tokens: int
) -> tuple[float, float, str]:
    """Seconds to the first token, tokens/s after it, and the text generated."""
    start = time.perf_counter()
    first = 0.0
    pieces: list[str] = []
    stream = await client.completions.create(
        model="gemma-3-270m",
        prompt=prompt,
        max_tokens=reply_tokens,
        stream=True,
        extra_body={"grammar": grammar},
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].text:
            if not pieces:
                first = time.perf_counter()
            pieces.append(chunk.choices[0].text)
    end = time.perf_counter()
    return first - start, (len(pieces) - 1) / max(end - first, 1e-9), "".join(pieces)


async def server_count(client: openai.AsyncOpenAI, prompt: str) -> int:
    reply = await client.completions.create(model="gemma-3-270m", prompt=prompt, max_tokens=1)
    assert reply.usage is not None
    return reply.usage.prompt_tokens


async def context_prompt(agent: Agent, extra: list[dict[str, Any]] | None = None) -> tuple[str, int]:
    """The agent's context (plus ``extra`` wire messages) as the embedded backend sends it, and the
    gauge's count of the context."""
    assembled = await agent.window.assemble()
    prompt = agent.llm.prompt([*assembled.messages, *(extra or [])], TOOL_SCHEMAS)  # type: ignore[attr-defined]
    return prompt, assembled.breakdown.total


async def whole_context(agent: Agent) -> tuple[str, int]:
    """The agent's whole context in its wrapper's frame, and the gauge's count of it. A partial
    wrapper (``notes``) shows the model only the current exchange, so the server's count of the prompt
    it sends measures the wrapper, not the gauge: the gauge counts the context the engine keeps (and
    evicts from, and says the model sees only part of it), and is checked against that."""
    assembled = await agent.window.assemble()
    wrapper = agent.llm.wrapper  # type: ignore[attr-defined]
    return wrapper.frame(wrapper.turns(assembled.messages, TOOL_SCHEMAS)) + PRIMER, assembled.breakdown.total


async def measure(turns: int, reply_tokens: int) -> list[Figure]:
    settings = Settings.load(backend="embedded", no_verify=True)
    agent = await runtime.create_agent(settings, "bench")
    try:
        url = agent.llm.server.base_url  # type: ignore[attr-defined]
        wrapper = agent.llm.wrapper  # type: ignore[attr-defined]
        grammar = gbnf(wrapper.offered(TOOL_SCHEMAS), wrapper.caps)
        client = openai.AsyncOpenAI(base_url=url, api_key="embedded", max_retries=0, timeout=600)
        first = user_message(QUESTIONS[0], 1).to_openai()
        prompt, _ = await context_prompt(agent, [first])
        cold = await stream_timing(client, prompt, grammar, reply_tokens)
        reply = {"role": "assistant", "content": cold[2]}
        follow, _ = await context_prompt(agent, [first, reply, user_message(QUESTIONS[1], 2).to_openai()])
        warm = await stream_timing(client, follow, grammar, reply_tokens)
        prompt_tokens = await server_count(client, prompt)
        errors, sent = [], []
        for question in (QUESTIONS * 2)[:turns]:
            await agent.send(question)
            # The sent prompt first: it shares most of the turn's last prompt, still evaluated on the server.
            sent_tokens = await server_count(client, (await context_prompt(agent))[0])
            context, gauge = await whole_context(agent)
            actual = await server_count(client, context)
            errors.append(abs(gauge - actual) / actual * 100)
            sent.append(sent_tokens / actual * 100)
        await client.close()
    finally:
        await agent.close()
    size = f"{prompt_tokens:,}-token prompt, {reply_tokens} tokens generated"
    return [
        Figure("embedded first token, cold", cold[0], "s", note=size),
        Figure(
            "embedded first token, prefix cached",
            warm[0],
            "s",
            note="the next turn's prompt extends the first",
        ),
        Figure("embedded tokens/s, cold", cold[1], "tok/s"),
        Figure("embedded tokens/s, prefix cached", warm[1], "tok/s"),
        Figure(
            "context gauge error vs usage.prompt_tokens",
            statistics.median(errors),
            "%",
            max(errors),
            1.0,
            judge="p95",
            note=f"after each of {len(errors)} turns on the embedded model; p95 column is the worst; "
            "the server's count of the whole context in the wrapper's frame, which the gauge counts",
        ),
        Figure(
            "prompt the model is sent, of the whole context",
            statistics.median(sent),
            "%",
            max(sent),
            note=f"the {wrapper.name} wrapper's prompt after a turn, by the server's count",
        ),
    ]


def alone(turns: int, reply_tokens: int = REPLY_TOKENS) -> list[Figure]:
    with private_home("embedded"):
        return asyncio.run(measure(turns, reply_tokens))


def run(quick: bool) -> list[Figure]:
    return alone(1 if quick else 6)


def main(argv: list[str] | None = None) -> list[Figure]:
    return standalone(__doc__, argv, alone, turns=6, reply_tokens=REPLY_TOKENS)


if __name__ == "__main__":
    main()
