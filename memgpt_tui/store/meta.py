"""``agent.json``: what marks a directory as an agent store, and what listing agents reads cheaply."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from ..model.clock import now
from ..model.errors import EmbeddingMismatch, StoreError
from . import location, paths

META_FILE = "agent.json"
FORMAT: Literal["memgpt-tui-agent"] = "memgpt-tui-agent"


class EmbeddingInfo(BaseModel):
    model: str
    dim: int
    # The agent's own OpenAI-compatible embeddings endpoint (an imported agent keeps its source's);
    # None: the configured embedder.
    endpoint: str | None = None


class AttachedSource(BaseModel):
    name: str
    attached_at: datetime
    chunks: int


class AgentMeta(BaseModel):
    format: Literal["memgpt-tui-agent"] = FORMAT
    version: Literal[1] = 1
    name: str
    created_at: datetime = Field(default_factory=now)
    embedding: EmbeddingInfo
    backend: str | None = None
    model: str | None = None
    # refreshed when the store closes and periodically while it is open
    last_used: datetime | None = None
    messages: int = 0
    archival: int = 0
    sources: list[AttachedSource] = Field(default_factory=list)


def meta_uri(store_uri: str) -> str:
    return paths.join(store_uri, META_FILE)


def read_meta(store_uri: str, name: str) -> AgentMeta:
    """The store's metadata; StoreError when the directory is not an agent store or the file is damaged."""
    try:
        data = location.read_json(meta_uri(store_uri))
    except (OSError, ValueError) as exc:
        raise StoreError(
            f"{store_uri} has an unreadable {META_FILE} ({exc}). It was left untouched; "
            f"restore it from a backup or an export, or delete agent {name!r}."
        ) from exc
    if data is None or data.get("format") != FORMAT:
        raise StoreError(
            f"{store_uri} is not a memgpt-tui agent store (no {META_FILE}); it was left untouched. "
            "Choose another agent name, or move that directory away."
        )
    try:
        return AgentMeta.model_validate(data)
    except ValidationError as exc:
        raise StoreError(
            f"{store_uri}/{META_FILE} is damaged or from a newer memgpt-tui ({exc.error_count()} problems). "
            "It was left untouched; upgrade memgpt-tui or restore the agent from an export."
        ) from exc


def write_meta(store_uri: str, meta: AgentMeta) -> None:
    location.write_json(meta_uri(store_uri), meta.model_dump(mode="json"))


def check_embedding(meta: AgentMeta, model: str, dim: int) -> None:
    stored = meta.embedding
    if (stored.model, stored.dim) != (model, dim):
        raise EmbeddingMismatch(
            f"Agent {meta.name!r} stores {stored.dim}-d embeddings from {stored.model!r}, but the configured "
            f"embedder is {model!r} ({dim}-d); mixing them would make archival search meaningless. "
            f"Set embedding_model = {stored.model!r} (and the matching embedding_backend) in the config to "
            "open it, or create a new agent for the new model."
        )
