"""The agent's persistent state: what a checkpoint pins (besides table versions)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection
from datetime import datetime
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, Field

from .clock import now

Backend = Literal[
    "embedded",
    "openai",
    "openai-compatible",
    # MemGPT's local backend types (its BACKEND_TYPE / model_endpoint_type names)
    "webui",
    "webui-legacy",
    "lmstudio",
    "lmstudio-legacy",
    "llamacpp",
    "koboldcpp",
    "ollama",
    "vllm",
]


def free_agent_name(taken: Collection[str]) -> str:
    """The first of agent_1, agent_2... not in ``taken``: a new agent's name when none is given."""
    return next(f"agent_{n}" for n in itertools.count(1) if f"agent_{n}" not in taken)


def letta_endpoint_type(backend: str) -> str:
    """Letta's ``model_endpoint_type`` for a backend: MemGPT's local types are Letta's of the same names."""
    return {"openai-compatible": "openai", "embedded": "llamacpp"}.get(backend, backend)


FunctionCalling = Literal["native", "json"]
EmbeddingBackend = Literal["embedded", "openai-compatible"]


class BackendDefaults(NamedTuple):
    """What a new agent on a backend gets where the settings leave it open."""

    model: str  # "": the user must name the model the server runs
    context_window: int
    function_calling: FunctionCalling
    base_url: str | None = None  # where the server listens when nothing else says


# The bundled model keeps to 8k tokens: prompt processing slows as the window fills (on 2 cores a cold
# 2k-token prompt takes ~4 s and a full 8k one ~40 s); gemma-3-270m's native 32k would take many minutes.
BACKEND_DEFAULTS: dict[str, BackendDefaults] = {
    "embedded": BackendDefaults("gemma-3-270m", 8192, "json"),
    "openai": BackendDefaults("gpt-4o-mini", 128000, "native"),
    "openai-compatible": BackendDefaults("", 8192, "native"),
    # MemGPT's default local endpoints; the model name matters only where the server serves several.
    "webui": BackendDefaults("local", 8192, "json", "http://localhost:5000"),
    "webui-legacy": BackendDefaults("local", 8192, "json", "http://localhost:5000"),
    "lmstudio": BackendDefaults("local", 8192, "json", "http://localhost:1234"),
    "lmstudio-legacy": BackendDefaults("local", 8192, "json", "http://localhost:1234"),
    "llamacpp": BackendDefaults("local", 8192, "json", "http://localhost:8080"),
    "koboldcpp": BackendDefaults("local", 8192, "json", "http://localhost:5001"),
    "ollama": BackendDefaults("", 8192, "json", "http://localhost:11434"),
    "vllm": BackendDefaults("", 8192, "json", "http://localhost:8000"),
}


class Block(BaseModel):
    label: str
    value: str
    limit: int = 2000
    read_only: bool = False
    description: str | None = None  # what the block is for (Letta blocks carry one)

    def render(self) -> str:
        return f'<{self.label} characters="{len(self.value)}/{self.limit}">\n{self.value}\n</{self.label}>'

    @staticmethod
    def read(text: str, label: str) -> str | None:
        """The value of the block ``label`` in a text holding rendered blocks (a system prompt)."""
        name = re.escape(label)
        found = re.search(rf"<{name}(?: [^>\n]*)?>\n(.*?)\n</{name}>", text, re.DOTALL)
        return found.group(1) if found else None


class AgentConfig(BaseModel):
    """How the agent talks to its model and embeddings. Never holds an API key."""

    backend: Backend = "embedded"
    model: str = BACKEND_DEFAULTS["embedded"].model
    base_url: str | None = None
    function_calling: FunctionCalling = "native"
    wrapper: str | None = None  # completion mode's prompt format; None: the backend's default
    context_window: int = BACKEND_DEFAULTS["embedded"].context_window
    embedding_backend: EmbeddingBackend = "embedded"
    embedding_model: str = "multilingual-e5-small"
    embedding_dim: int = 384
    persona: str = "sam_pov"
    human: str = "basic"
    no_verify: bool = False


class AgentState(BaseModel):
    name: str
    config: AgentConfig
    system_prompt: str
    blocks: list[Block]
    in_context_ids: list[str] = Field(default_factory=list)  # the message buffer, oldest first
    summary: str | None = None
    step: int = 0
    verified: bool = False  # first reply passed verification
    warned: bool = False  # memory-pressure warning sent since the last eviction
    created_at: datetime = Field(default_factory=now)
    memory_edited_at: datetime = Field(default_factory=now)
    prompt_history: list[int] = Field(default_factory=list)  # last prompt tokens per step
    heartbeats_paused_until: datetime | None = None
    # What a server's client says about the agent and reads back (description, tags, metadata)
    annotations: dict[str, Any] = Field(default_factory=dict)

    def block(self, label: str) -> Block | None:
        return next((b for b in self.blocks if b.label == label), None)
