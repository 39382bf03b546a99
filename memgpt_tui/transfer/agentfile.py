"""Letta Agent Files (``.af``): read v1 and v2 (also when the whole JSON is one JSON string), write v2.

v2 holds top-level lists (``agents``, ``blocks``, ``tools``, ...) joined by file-local ids such as
``agent-0``; v1 is one agent with ``core_memory``, ``messages`` and ``in_context_message_indices``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..engine.functions import TOOL_SCHEMAS
from ..engine.prompts import memory_header, render_core, summary_alert
from ..model.clock import format_time, now
from ..model.messages import Message, Role, ToolCall
from ..model.state import AgentConfig, AgentState, Block, letta_endpoint_type
from .imported import (
    Imported,
    ImportedAgent,
    ImportFailed,
    RawMessage,
    model_settings,
    parse_time,
    without_orphans,
)

MAX_BYTES = 32 * 1024 * 1024  # a Letta export of one agent is a few MB; larger is not an agent file
OUR_TOOLS = [s["function"] for s in TOOL_SCHEMAS]
_OUR_NAMES = {t["name"] for t in OUR_TOOLS}
_UNCARRIED = ("sources", "files", "groups", "mcp_servers")


def looks_like(path: Path) -> bool:
    if path.suffix == ".af":
        return True
    try:
        with path.open("rb") as f:
            return f.read(64).lstrip()[:1] in (b"{", b'"')
    except OSError:
        return False


def load_json(path: Path) -> dict[str, Any]:
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ImportFailed(
            f"{path} is {size / 1e6:.0f} MB; Agent Files over {MAX_BYTES // 2**20} MB are refused. Nothing was imported."
        )
    try:
        data: Any = json.loads(path.read_bytes())
        if isinstance(data, str):  # the whole file is one JSON string holding the JSON
            data = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImportFailed(f"{path} is not valid JSON ({exc}); nothing was imported.") from exc
    if not isinstance(data, dict):
        raise ImportFailed(f"{path} holds no Agent File object; nothing was imported.")
    return data


def read_agent_file(path: Path, wanted: Sequence[str]) -> Imported:
    data = load_json(path)
    try:
        imported = _read(data, path)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:  # a field missing or of a wrong type
        detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]
        raise ImportFailed(
            f"{path} is not a well-formed Agent File ({detail}); nothing was imported."
        ) from exc
    by_name = {a.name: a for a in imported.agents}
    if missing := [n for n in wanted if n not in by_name]:
        raise ImportFailed(
            f"No agent named {', '.join(map(repr, missing))} in {path} (it has: {', '.join(by_name)})."
        )
    if wanted:
        imported.agents = [by_name[n] for n in wanted]
    return imported


def _read(data: dict[str, Any], path: Path) -> Imported:
    if isinstance(data.get("agents"), list):
        imported = Imported("Letta Agent File (v2)", _read_v2(data, path))
    elif "core_memory" in data and isinstance(data.get("messages"), list):
        imported = Imported(
            f"Letta Agent File (v1, Letta {data.get('version', '?')})", [_read_v1(data, path)]
        )
    else:
        raise ImportFailed(f"{path} is JSON but not a Letta Agent File (no agents or core_memory).")
    return imported


# ------------------------------------------------------------------ v2


def _read_v2(data: dict[str, Any], path: Path) -> list[ImportedAgent]:
    _check_ids(data, path)
    blocks = {b["id"]: b for b in data.get("blocks") or []}
    tools = {t["id"]: t for t in data.get("tools") or []}
    agents = []
    for agent in data["agents"]:
        name = agent.get("name") or agent["id"]
        for ref, table in (("block_ids", blocks), ("tool_ids", tools)):
            if dangling := [i for i in agent.get(ref) or [] if i not in table]:
                raise ImportFailed(
                    f"{path}: agent {name!r} refers to {ref[:-4]} {dangling[0]!r}, which the file does not hold."
                )
        messages = agent.get("messages") or []
        by_id = {m["id"]: m for m in messages}
        context = agent.get("in_context_message_ids") or []
        if dangling := [i for i in context if i not in by_id]:
            raise ImportFailed(
                f"{path}: agent {name!r} has in-context message {dangling[0]!r}, which it does not hold."
            )
        imported = _agent(
            name,
            agent,
            [_block(blocks[i]) for i in agent.get("block_ids") or []]
            + [_block(b) for b in agent.get("memory_blocks") or []],
            messages,
            context,
            [tools[i].get("name", i) for i in agent.get("tool_ids") or []],
        )
        agents.append(imported)
    for key in _UNCARRIED:
        if data.get(key) and agents:
            agents[0].skipped.append(f"the file's {len(data[key])} {key.replace('_', ' ')}")
    return agents


def _check_ids(data: dict[str, Any], path: Path) -> None:
    """Every object has an id, and no id is used twice in the file."""
    ids = []
    for key in ("agents", "blocks", "tools", "sources", "files", "groups", "mcp_servers"):
        for item in data.get(key) or []:
            if not isinstance(item, dict) or not item.get("id"):
                raise ImportFailed(f"{path}: an entry of {key!r} has no id; nothing was imported.")
            ids.append(item["id"])
            ids.extend(m.get("id") for m in item.get("messages") or [] if isinstance(m, dict))
    if None in ids:
        raise ImportFailed(f"{path}: a message has no id; nothing was imported.")
    if dupes := [i for i, n in Counter(ids).items() if n > 1]:
        raise ImportFailed(f"{path}: the id {dupes[0]!r} is used twice; nothing was imported.")


# ------------------------------------------------------------------ v1


def _read_v1(data: dict[str, Any], path: Path) -> ImportedAgent:
    messages = data["messages"]
    for n, m in enumerate(messages):
        m.setdefault("id", f"message-{n}")
    if len({m["id"] for m in messages}) != len(messages):
        raise ImportFailed(f"{path}: two messages share an id; nothing was imported.")
    indices = data.get("in_context_message_indices") or []
    if bad := [i for i in indices if not isinstance(i, int) or not 0 <= i < len(messages)]:
        raise ImportFailed(f"{path}: in-context index {bad[0]!r} points at no message; nothing was imported.")
    return _agent(
        data.get("name") or path.stem,
        data,
        [_block(b) for b in data.get("core_memory") or []],
        messages,
        [messages[i]["id"] for i in indices],
        [t.get("name", "?") for t in data.get("tools") or []],
    )


# ------------------------------------------------------------------ both


def _agent(
    name: str,
    agent: dict[str, Any],
    blocks: list[Block],
    raw_messages: list[dict[str, Any]],
    context: list[str],
    tool_names: list[str],
) -> ImportedAgent:
    if twice := [label for label, n in Counter(b.label for b in blocks).items() if n > 1]:
        raise ImportFailed(f"Agent {name!r} has two blocks labelled {twice[0]!r}; nothing was imported.")
    replies_in_text = agent.get("agent_type") not in (None, "memgpt_agent")
    converted = {raw["id"]: _messages(raw, replies_in_text) for raw in raw_messages}
    messages = [m for ms in converted.values() for m in ms]
    roles = {m.source_id: m.role for m in messages}
    kept = [m for m in messages if m.role != "system"]
    window = [m.source_id for i in context for m in converted.get(i, []) if m.role != "system"]
    imported = ImportedAgent(
        name=name,
        system_prompt=agent.get("system") or "",
        blocks=blocks,
        messages=kept,
        in_context=without_orphans(window, roles),
        model=model_settings(agent.get("llm_config") or {}),
        created_at=parse_time(agent["created_at"]) if agent.get("created_at") else None,
    )
    if foreign := sorted(set(tool_names) - _OUR_NAMES):
        imported.skipped.append(f"tools that are not memgpt-tui functions: {', '.join(foreign)}")
    if copies := len(messages) - len(kept):
        imported.skipped.append(f"{copies} system messages (it is rebuilt from the prompt and core memory)")
    if agent.get("tool_rules"):
        imported.skipped.append(f"{len(agent['tool_rules'])} tool rules")
    if agent.get("agent_type") not in (None, "memgpt_agent"):
        replies = sum(len(ms) == 2 and ms[1].source_id.endswith("#reply") for ms in converted.values())
        imported.skipped.append(
            f"the agent type {agent['agent_type']}: it runs here as a MemGPT agent"
            + (f" ({replies} plain-text replies became send_message calls)" if replies else "")
        )
    return imported


def _block(block: dict[str, Any]) -> Block:
    value = str(block.get("value") or "")
    return Block(
        label=str(block["label"]),
        value=value,
        limit=max(int(block.get("limit") or 2000), len(value)),
        read_only=bool(block.get("read_only")),
        description=block.get("description"),
    )


def _text(content: Any, kinds: tuple[str, ...] = ("text", "reasoning")) -> str | None:
    """The text of a message's content: a string, or the parts of the given types joined."""
    if content is None or isinstance(content, str):
        return content
    parts = [p.get(p.get("type", "text")) or p.get("text") for p in content if isinstance(p, dict)]
    kept = [
        t
        for p, t in zip(content, parts, strict=True)
        if isinstance(p, dict) and p.get("type", "text") in kinds
    ]
    return "\n".join(t for t in kept if t) or None


def _messages(raw: dict[str, Any], replies_in_text: bool) -> list[RawMessage]:
    """One Letta message as ours. A tool message with several returns becomes one per return; with
    ``replies_in_text`` (agent types that answer in plain text), an assistant's text becomes a
    ``send_message`` call and its result, as MemGPT agents answer."""
    role = raw.get("role")
    if role not in ("system", "user", "assistant", "tool"):
        return []
    valid: Role = role
    created = parse_time(raw.get("created_at"))
    calls = tuple(
        ToolCall(
            id=str(c.get("id")), name=c["function"]["name"], arguments=c["function"].get("arguments") or "{}"
        )
        for c in raw.get("tool_calls") or []
        if isinstance(c, dict) and isinstance(c.get("function"), dict)
    )
    text = _text(raw.get("content"))
    returns = [r for r in raw.get("tool_returns") or [] if isinstance(r, dict)]
    if valid == "tool" and returns and not text:
        return [
            RawMessage(
                source_id=raw["id"] if n == 0 else f"{raw['id']}#{n}",
                role="tool",
                content=_text(r.get("func_response")),
                created_at=created,
                tool_call_id=r.get("tool_call_id") or raw.get("tool_call_id"),
                name=raw.get("name"),
            )
            for n, r in enumerate(returns)
        ]
    reply = _text(raw.get("content"), ("text",))
    if valid == "assistant" and replies_in_text and not calls and reply:
        call = ToolCall(
            id=f"{raw['id']}-reply", name="send_message", arguments=json.dumps({"message": reply})
        )
        result = json.dumps({"status": "OK", "message": "None", "time": format_time(created)})
        return [
            RawMessage(raw["id"], "assistant", _text(raw.get("content"), ("reasoning",)), created, (call,)),
            RawMessage(
                f"{raw['id']}#reply", "tool", result, created, tool_call_id=call.id, name="send_message"
            ),
        ]
    return [
        RawMessage(
            source_id=raw["id"],
            role=valid,
            content=text,
            created_at=created,
            tool_calls=calls,
            tool_call_id=raw.get("tool_call_id") if valid == "tool" else None,
            name=raw.get("name") if valid == "tool" else None,
        )
    ]


# ------------------------------------------------------------------ export


def export_v2(
    state: AgentState, in_context: list[Message], recall_count: int, archival_count: int
) -> dict[str, Any]:
    """A v2 Agent File of one agent: its blocks, our functions as tools, and the in-context window with
    the system message first, as the model sees it. Never a key: AgentConfig holds none."""
    blocks: list[dict[str, Any]] = [
        {
            "id": f"block-{n}",
            "label": b.label,
            "value": b.value,
            "limit": b.limit,
            "read_only": b.read_only,
            "description": b.description,
            "metadata": {},
            "is_template": False,
            "template_name": None,
            "preserve_on_migration": False,
        }
        for n, b in enumerate(state.blocks)
    ]
    tools = [
        {
            "id": f"tool-{n}",
            "name": t["name"],
            "description": t["description"],
            "tool_type": "letta_memory_core" if t["name"].startswith("core_memory") else "letta_core",
            "source_type": "python",
            "tags": ["memgpt-tui"],
            "source_code": None,
            "json_schema": t,
            "args_json_schema": None,
            "return_char_limit": 6000,
            "metadata_": {},
        }
        for n, t in enumerate(OUR_TOOLS)
    ]
    system = (
        f"{state.system_prompt}\n\n"
        f"{memory_header(state.memory_edited_at, recall_count, archival_count)}\n{render_core(state.blocks)}"
    )
    window: list[dict[str, Any]] = [_message_out("message-0", "system", system, now().isoformat())]
    if state.summary:
        hidden = recall_count - len(in_context)
        window.append(
            _message_out("message-1", "user", summary_alert(state.summary, hidden), now().isoformat())
        )
    for m in in_context:
        window.append(_message_out(f"message-{len(window)}", m.role, m.content, m.created_at.isoformat(), m))
    agent = {
        "id": "agent-0",
        "name": state.name,
        "agent_type": "memgpt_agent",
        "system": state.system_prompt,
        "description": f"Exported from memgpt-tui ({state.config.backend}:{state.config.model})",
        "memory_blocks": [],
        "block_ids": [b["id"] for b in blocks],
        "tools": [],
        "tool_ids": [t["id"] for t in tools],
        "source_ids": [],
        "tool_rules": [],
        "tags": [],
        "llm_config": _llm_config(state.config),
        "embedding_config": _embedding_config(state.config),
        "include_base_tools": False,
        "include_multi_agent_tools": False,
        "include_base_tool_rules": False,
        "include_default_source": False,
        "message_buffer_autoclear": False,
        "enable_sleeptime": False,
        "metadata": {},
        "timezone": "UTC",
        "in_context_message_ids": [m["id"] for m in window],
        "messages": window,
        "files_agents": [],
        "group_ids": [],
    }
    return {
        "agents": [agent],
        "groups": [],
        "blocks": blocks,
        "files": [],
        "sources": [],
        "tools": tools,
        "mcp_servers": [],
        "skills": [],
        "metadata": {"exported_by": "memgpt-tui"},
        "created_at": now().isoformat(),
    }


def _message_out(
    message_id: str, role: str, content: str | None, created_at: str, message: Message | None = None
) -> dict[str, Any]:
    calls = message.tool_calls if message else ()
    out: dict[str, Any] = {
        "type": "message",
        "id": message_id,
        "role": role,
        "content": [{"type": "text", "text": content}] if content else [],
        "name": message.name if message else None,
        "agent_id": "agent-0",
        "model": None,
        "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in calls
        ]
        or None,
        "tool_call_id": message.tool_call_id if message else None,
        "tool_returns": [],
        "created_at": created_at,
    }
    if message and message.role == "tool":
        ok = _status(content) == "OK"
        out["tool_returns"] = [
            {
                "tool_call_id": message.tool_call_id,
                "status": "success" if ok else "error",
                "func_response": content,
            }
        ]
    return out


def _status(content: str | None) -> Any:
    try:
        result = json.loads(content or "")
    except ValueError:
        return None
    return result.get("status") if isinstance(result, dict) else None


def _llm_config(config: AgentConfig) -> dict[str, Any]:
    kind = letta_endpoint_type(config.backend)
    endpoint = config.base_url or ("https://api.openai.com/v1" if config.backend == "openai" else None)
    if endpoint:  # a user:password in the URL is a secret
        parts = urlsplit(endpoint)
        endpoint = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return {
        "model": config.model,
        "model_endpoint_type": kind,
        "model_endpoint": endpoint,
        "model_wrapper": config.wrapper,
        "context_window": config.context_window,
        "put_inner_thoughts_in_kwargs": False,
    }


def _embedding_config(config: AgentConfig) -> dict[str, Any]:
    return {
        "embedding_endpoint_type": "openai"
        if config.embedding_backend == "openai-compatible"
        else "hugging-face",
        "embedding_endpoint": None,
        "embedding_model": config.embedding_model,
        "embedding_dim": config.embedding_dim,
        "embedding_chunk_size": 300,
    }
