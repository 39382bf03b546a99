"""Shared by the store tests: a fast embedder, states and turns as the engine writes them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import numpy as np

from memgpt_tui.model.clock import new_id
from memgpt_tui.model.messages import Message, ToolCall, user_message
from memgpt_tui.model.state import AgentConfig, AgentState, Block
from memgpt_tui.store.agent_store import LanceAgentStore, StoreTuning


class HashEmbedder:
    """Fast deterministic embeddings: equal texts get equal vectors, different texts unrelated ones."""

    def __init__(self, model: str = "hash-test", dim: int = 16) -> None:
        self.model = model
        self.dim = dim
        self.calls = 0

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        return [self.embed_query(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        vector = np.random.default_rng(seed).standard_normal(self.dim)
        return (vector / np.linalg.norm(vector)).tolist()


FAST = StoreTuning(flush_interval=0.05)
# as long as a real system prompt, so checkpoints store it once and refer to it after (see states.py)
SYSTEM_PROMPT = "You are MemGPT, a digital companion with a memory that outlasts the conversation. " * 4


def make_state(name: str = "sam", step: int = 0, persona: str = "I am Sam.") -> AgentState:
    return AgentState(
        name=name,
        config=AgentConfig(),
        system_prompt=SYSTEM_PROMPT,
        blocks=[Block(label="persona", value=persona), Block(label="human", value="Chad.")],
        step=step,
    )


def reply(text: str, step: int) -> list[Message]:
    """An assistant turn as the engine stores it: thought + send_message call, then the call's result."""
    call = ToolCall(id=f"call-{new_id()}", name="send_message", arguments=json.dumps({"message": text}))
    return [
        Message(
            role="assistant",
            kind="assistant",
            content=f"thinking at step {step}",
            tool_calls=(call,),
            step=step,
        ),
        Message(
            role="tool",
            kind="tool_result",
            content='{"status": "OK"}',
            tool_call_id=call.id,
            name="send_message",
            step=step,
        ),
    ]


def turn(
    store: LanceAgentStore, state: AgentState, said: str, answer: str, label: str | None = None
) -> list[Message]:
    """One completed step: user message, reply, checkpoint."""
    state.step += 1
    messages = [user_message(said, state.step), *reply(answer, state.step)]
    store.append_messages(messages[:1])
    store.append_messages(messages[1:])
    state.in_context_ids = [*state.in_context_ids, *(m.id for m in messages)]
    store.checkpoint(state, label, f"step {state.step}")
    return messages
