"""Letta's response shapes, built from our agent, blocks, passages and model settings; and the model
handles this server offers."""

from __future__ import annotations

import os
from typing import Any

from ..config import Settings
from ..engine.agent import Agent
from ..engine.functions import ARG_MODELS
from ..model.records import Passage
from ..model.state import BACKEND_DEFAULTS, AgentConfig, Block, letta_endpoint_type

AGENT_TYPE = "memgpt_agent"


def handle(config: AgentConfig) -> str:
    return f"{config.backend}/{config.model}"


def embedding_handle(config: AgentConfig) -> str:
    return f"{config.embedding_backend}/{config.embedding_model}"


def model_handles(settings: Settings) -> list[tuple[str, str, int]]:
    """(backend, model, context window) of each model a new agent may ask for: the home's default
    first, then the bundled model, then OpenAI's default when a key is set."""
    offered: list[tuple[str, str, int]] = []
    backend = settings.resolved_backend()
    defaults = BACKEND_DEFAULTS[backend]
    if settings.model or defaults.model:
        offered.append(
            (backend, settings.model or defaults.model, settings.context_window or defaults.context_window)
        )
    for other in ("embedded", "openai"):
        if (
            other == "openai"
            and backend != "openai"
            and not (settings.api_key or os.environ.get("OPENAI_API_KEY"))
        ):
            continue
        entry = (other, BACKEND_DEFAULTS[other].model, BACKEND_DEFAULTS[other].context_window)
        if all(o[:2] != entry[:2] for o in offered):
            offered.append(entry)
    return offered


def model(backend: str, name: str, window: int) -> dict[str, Any]:
    return {
        "handle": f"{backend}/{name}",
        "name": name,
        "display_name": name,
        "model": name,
        "model_type": "llm",
        "model_endpoint_type": letta_endpoint_type(backend),
        "provider_type": letta_endpoint_type(backend),
        "provider_name": backend,
        "context_window": window,
        "max_context_window": window,
    }


def embedding_model(backend: str, name: str, dim: int) -> dict[str, Any]:
    return {
        "handle": f"{backend}/{name}",
        "name": name,
        "display_name": name,
        "embedding_model": name,
        "embedding_dim": dim,
        "embedding_endpoint_type": "openai" if backend == "openai-compatible" else "hugging-face",
        "provider_name": backend,
        "provider_type": "openai" if backend == "openai-compatible" else "hugging-face",
    }


def block(agent_id: str, item: Block) -> dict[str, Any]:
    return {
        "id": f"block-{agent_id.removeprefix('agent-')}-{item.label}",
        "label": item.label,
        "value": item.value,
        "limit": item.limit,
        "read_only": item.read_only,
        "description": item.description,
    }


def agent_state(agent_id: str, name: str, agent: Agent) -> dict[str, Any]:
    view = agent.snapshot()
    config = view.config
    blocks = [block(agent_id, b) for b in view.blocks]
    annotations = agent.state.annotations
    llm = {
        "model": config.model,
        "model_endpoint_type": letta_endpoint_type(config.backend),
        "model_endpoint": config.base_url,
        "context_window": config.context_window,
        "handle": handle(config),
    }
    embedding = {
        "embedding_model": config.embedding_model,
        "embedding_dim": config.embedding_dim,
        "embedding_endpoint_type": "openai"
        if config.embedding_backend == "openai-compatible"
        else "hugging-face",
        "handle": embedding_handle(config),
    }
    return {
        "id": agent_id,
        "name": name,
        "agent_type": AGENT_TYPE,
        "system": agent.state.system_prompt,
        "blocks": blocks,
        "memory": {"blocks": blocks, "agent_type": AGENT_TYPE},
        "llm_config": llm,
        "embedding_config": embedding,
        "model": handle(config),
        "embedding": embedding_handle(config),
        "tools": [{"id": f"tool-{n}", "name": n, "tool_type": "letta_memgpt_core"} for n in ARG_MODELS],
        "sources": [],
        "tags": list(annotations.get("tags") or []),
        "description": annotations.get("description"),
        "metadata": annotations.get("metadata"),
        "message_ids": [m.id for m in view.in_context],
        "created_at": agent.state.created_at.isoformat(),
    }


def passage(item: Passage) -> dict[str, Any]:
    return {
        "id": item.id,
        "text": item.text,
        "created_at": item.created_at.isoformat(),
        "metadata": item.metadata,
        "tags": tags(item),
    }


def tags(item: Passage) -> list[str]:
    return list(item.metadata.get("tags") or [])
