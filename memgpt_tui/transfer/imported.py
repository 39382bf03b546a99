"""What every importer produces, and the one writer that turns it into a memgpt-tui agent.

Readers parse and check their whole source first; only then is anything created, and a failure while
writing removes every agent this import created.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..llm import wrappers
from ..model.clock import now
from ..model.errors import StoreError
from ..model.messages import Kind, Message, Role, ToolCall
from ..model.state import BACKEND_DEFAULTS, AgentConfig, AgentState, Block
from ..store import registry
from .embedding import OPENAI, Embedding, SourceEmbedding

ModelSettings = dict[str, Any]  # AgentConfig fields the source sets: backend, model, base_url, ...
_EMBED_BATCH = 64
# MemGPT's local endpoint types: memgpt-tui backends of the same names.
_LOCAL = {"webui", "webui-legacy", "ollama", "vllm", "lmstudio", "lmstudio-legacy", "llamacpp", "koboldcpp"}


class ImportFailed(StoreError):
    """The source cannot be imported; the text says why in one line."""


@dataclass
class RawMessage:
    """A message as a reader found it, before it gets a memgpt-tui id."""

    source_id: str
    role: Role
    content: str | None
    created_at: datetime
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


@dataclass
class ImportedPassage:
    text: str
    metadata: dict[str, Any]


@dataclass
class ImportedAgent:
    name: str
    system_prompt: str
    blocks: list[Block]
    messages: list[RawMessage]  # every message kept, in any order
    in_context: list[str]  # source ids of the window, oldest first, without the system message
    passages: list[ImportedPassage] = field(default_factory=list)
    model: ModelSettings = field(default_factory=dict)
    embedding: SourceEmbedding | None = None  # the source's embedding settings, where it names them
    created_at: datetime | None = None
    skipped: list[str] = field(default_factory=list)  # what could not be carried over


@dataclass
class Imported:
    """One source read in full: what it is, its agents, and notes about the source as a whole."""

    kind: str
    agents: list[ImportedAgent]
    notes: list[str] = field(default_factory=list)  # about the source, e.g. paths found elsewhere
    skipped: list[str] = field(default_factory=list)  # what the source holds that was not carried over


@dataclass
class ImportedSummary:
    name: str
    source_name: str
    in_context: int
    recall: int
    archival: int
    model: ModelSettings
    embedding: str | None = None  # the source's embeddings endpoint the agent keeps: "MODEL at URL"


# ------------------------------------------------------------------ messages


def kind_of(role: Role, content: str | None) -> Kind:
    """What a MemGPT-shaped message is: user-channel envelopes carry their type."""
    if role == "assistant":
        return "assistant"
    if role == "tool":
        return "tool_result"
    if role == "user" and content:
        try:
            envelope = json.loads(content)
        except ValueError:
            return "user_message"
        kind = envelope.get("type") if isinstance(envelope, dict) else None
        if kind in ("heartbeat", "login"):
            return kind  # type: ignore[no-any-return]
        if kind == "system_alert":
            return "warning" if "maximum length" in str(envelope.get("message")) else "system_alert"
    return "user_message"


def parse_time(value: Any) -> datetime:
    """A timestamp from JSON or SQLite text; naive ones are UTC, as MemGPT stores them."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float):
        moment = datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return now()
    else:
        return now()
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _numbered(agent: ImportedAgent) -> tuple[list[Message], list[str]]:
    """memgpt-tui messages with ids that sort by time (recall is ordered by id), and the window's ids."""
    order = sorted(range(len(agent.messages)), key=lambda i: (agent.messages[i].created_at, i))
    ceiling = time.time_ns() - len(order) - 1  # imported ids sort before anything the agent writes next
    new_ids: dict[str, str] = {}
    messages: list[Message] = []
    last, step = 0, 0
    for n, i in enumerate(order):
        raw = agent.messages[i]
        stamp = min(int(raw.created_at.timestamp() * 1e9), ceiling)
        last = max(stamp, last + 1)
        new_ids[raw.source_id] = message_id = f"{last:016x}{n:08x}"
        if raw.role == "assistant":
            step += 1
        messages.append(
            Message(
                id=message_id,
                role=raw.role,
                kind=kind_of(raw.role, raw.content),
                content=raw.content,
                tool_calls=raw.tool_calls,
                tool_call_id=raw.tool_call_id,
                name=raw.name,
                created_at=raw.created_at,
                step=step if raw.role != "user" else step + 1,
            )
        )
    return messages, [new_ids[i] for i in agent.in_context]


def without_orphans(window: list[str], roles: Mapping[str, str]) -> list[str]:
    """The window minus leading tool results whose call fell out of it (they go to recall only)."""
    start = 0
    while start < len(window) and roles[window[start]] == "tool":
        start += 1
    return window[start:]


def model_settings(llm: dict[str, Any]) -> ModelSettings:
    """The model settings (MemGPT or Letta ``llm_config``) that map onto a memgpt-tui backend; none when they do not."""
    kind, endpoint, model = llm.get("model_endpoint_type"), llm.get("model_endpoint") or "", llm.get("model")
    settings: ModelSettings = {}
    if llm.get("context_window"):
        settings["context_window"] = int(llm["context_window"])
    if kind == "openai" and endpoint.rstrip("/") in ("", OPENAI) and model:
        return {
            **settings,
            "backend": "openai",
            "model": model,
            "base_url": None,
            "function_calling": "native",
        }
    if kind == "openai" and model:
        return {
            **settings,
            "backend": "openai-compatible",
            "model": model,
            "base_url": endpoint,
            "function_calling": "native",
        }
    if kind in _LOCAL and (model or kind not in _NAMED_MODEL):
        return {
            **settings,
            "backend": kind,
            "model": model or BACKEND_DEFAULTS[kind].model,
            "base_url": endpoint.rstrip("/") or None,  # None: the type's default local endpoint
            "function_calling": "json",
            "wrapper": _wrapper(llm),
        }
    return {}


def _wrapper(llm: dict[str, Any]) -> str | None:
    wrapper = llm.get("model_wrapper")
    return wrapper if wrapper in wrappers.known() else None


_NAMED_MODEL = {"ollama", "vllm"}  # servers that answer only for a model named in the request


def wrapper_left(llm: dict[str, Any]) -> list[str]:
    """A MemGPT agent's wrapper, when it does not come over (the model settings that map onto no backend
    are named by the import itself)."""
    wrapper = llm.get("model_wrapper")
    if llm.get("model_endpoint_type") in _LOCAL and wrapper and _wrapper(llm) is None:
        return [f"model_wrapper {wrapper}: no wrapper of that name here, chatml is used"]
    return []


def safe_name(name: str) -> str:
    """A source's agent name as one of ours: other characters become '_'."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name.strip())[:64].lstrip("._-")
    return cleaned or "imported"


# ------------------------------------------------------------------ writing


def write(
    root: str,
    imported: Imported,
    base: AgentConfig,
    embeddings: Sequence[Embedding],
    names: Sequence[str],
) -> list[ImportedSummary]:
    """Create one agent per imported agent, under ``names``, embedded as ``embeddings`` say; all or none."""
    for target in names:
        if registry.exists(root, target):
            raise ImportFailed(
                f"An agent named {target!r} already exists; import under another name (--name), or delete it first."
            )
    done: list[str] = []
    summaries = []
    try:
        for agent, embedding, target in zip(imported.agents, embeddings, names, strict=True):
            summaries.append(_write_one(root, agent, target, base, embedding, imported.kind))
            done.append(target)
    except BaseException:
        for target in done:
            registry.delete(root, target)
        raise
    return summaries


def _write_one(
    root: str, agent: ImportedAgent, target: str, base: AgentConfig, embedding: Embedding, kind: str
) -> ImportedSummary:
    messages, in_context = _numbered(agent)
    embedder = embedding.embedder
    config = base.model_copy(update=agent.model | _embedding_settings(embedding))
    store = registry.create_store(root, target, embedder, endpoint=embedding.endpoint)
    try:
        store.append_messages(messages)
        for start in range(0, len(agent.passages), _EMBED_BATCH):
            batch = agent.passages[start : start + _EMBED_BATCH]
            texts = [p.text for p in batch]
            store.archival_insert_embedded(texts, embedder.embed_passages(texts), [p.metadata for p in batch])
        state = AgentState(
            name=target,
            config=config,
            system_prompt=agent.system_prompt,
            blocks=agent.blocks,
            in_context_ids=in_context,
            step=max((m.step for m in messages), default=0),
            verified=True,  # the agent has spoken before: no first-reply check
            created_at=agent.created_at or now(),
        )
        store.checkpoint(state, "imported", f"imported from a {kind}")
    except BaseException:
        store.close()
        registry.delete(root, target)
        raise
    store.close()
    return ImportedSummary(
        name=target,
        source_name=agent.name,
        in_context=len(in_context),
        recall=len(messages) - len(in_context),
        archival=len(agent.passages),
        model=agent.model,
        embedding=f"{embedder.model} at {embedding.endpoint}" if embedding.endpoint else None,
    )


def _embedding_settings(embedding: Embedding) -> ModelSettings:
    if embedding.endpoint is None:
        return {}
    return {
        "embedding_backend": "openai-compatible",
        "embedding_model": embedding.embedder.model,
        "embedding_dim": embedding.embedder.dim,
    }
