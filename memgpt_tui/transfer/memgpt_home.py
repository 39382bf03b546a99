"""Read a MemGPT CLI 0.3.x home (``~/.memgpt``): INI ``config``, ``sqlite.db`` and Chroma archival.

Everything is read with plain ``sqlite3`` and ``configparser``, read-only. ``credentials`` is only looked
at to say which keys were left behind: no key is ever read into an agent.
"""

from __future__ import annotations

import configparser
import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from ..engine.functions import ARG_MODELS as FUNCTION_NAMES
from ..model.messages import Role, ToolCall
from ..model.state import Block
from .embedding import SourceEmbedding
from .imported import (
    Imported,
    ImportedAgent,
    ImportedPassage,
    ImportFailed,
    RawMessage,
    model_settings,
    parse_time,
    without_orphans,
    wrapper_left,
)

RECALL_TABLE = "memgpt_recall_memory_agent"
ARCHIVAL_COLLECTION = "memgpt_archival_memory_agent"
DEFAULT_LIMIT = 2000  # MemGPT's CORE_MEMORY_{PERSONA,HUMAN}_CHAR_LIMIT
# Chroma metadata that MemGPT adds itself; anything else was the passage's own metadata.
_PASSAGE_FIELDS = {
    "user_id",
    "agent_id",
    "data_source",
    "doc_id",
    "embedding_dim",
    "embedding_model",
    "chroma:document",
}


def is_home(path: Path) -> bool:
    return path.is_dir() and (path / "config").is_file()


def read_home(home: Path, wanted: list[str]) -> Imported:
    config = _ini(home / "config")
    version = config.get("version", "memgpt_version", fallback="")
    if not version.startswith("0.3"):
        raise ImportFailed(layout_message(home, version))
    for section in ("recall_storage", "metadata_storage"):
        if (kind := config.get(section, "type", fallback="sqlite")) != "sqlite":
            raise ImportFailed(
                f"{home} keeps its {section.split('_')[0]} in {kind}; memgpt-tui reads MemGPT homes on SQLite only."
            )
    notes: list[str] = []
    recall_dir = _where(config, "recall_storage", home, notes)
    metadata_dir = _where(config, "metadata_storage", home, notes)
    db = metadata_dir / "sqlite.db"
    if not db.is_file():
        raise ImportFailed(f"{home} is a MemGPT {version} home without its sqlite.db; nothing was imported.")
    rows = _query(db, "SELECT * FROM agents", ())
    by_name = {row["name"]: row for row in rows}
    if missing := [n for n in wanted if n not in by_name]:
        raise ImportFailed(
            f"No agent named {', '.join(map(repr, missing))} in {home} (it has: {', '.join(by_name) or 'none'})."
        )
    chosen = [by_name[n] for n in wanted] if wanted else rows
    if not chosen:
        raise ImportFailed(f"{home} is a MemGPT {version} home with no agents; nothing was imported.")
    archival = config.get("archival_storage", "type", fallback="chroma")
    chroma = _where(config, "archival_storage", home / "chroma", notes) / "chroma.sqlite3"
    agents = []
    for row in chosen:
        try:
            agent = _agent(row, recall_dir / "sqlite.db")
        except (KeyError, TypeError, AttributeError, ValueError) as exc:  # a field missing or of a wrong type
            detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]
            raise ImportFailed(
                f"Agent {row['name']!r} in {home} cannot be read ({detail}); nothing was imported."
            ) from exc
        if archival != "chroma":
            agent.skipped.append(f"archival memory in {archival} storage (only Chroma is read)")
        elif chroma.is_file():
            agent.passages = _passages(chroma, str(row["id"]))
        agents.append(agent)
    skipped = []
    if keys := _credential_keys(home / "credentials"):
        skipped.append(f"the API keys in credentials ({', '.join(keys)}): memgpt-tui never copies keys")
    return Imported(f"MemGPT {version} home", agents, notes, skipped)


def layout_message(home: Path, version: str) -> str:
    if version.startswith(("0.4", "0.5", "0.6", "0.7")) or not (home / "config").is_file():
        return (
            f"{home} is a {f'MemGPT {version} / ' if version else ''}Letta home, which memgpt-tui cannot read; "
            "export the agent from Letta as an Agent File (.af) and import that."
        )
    if (home / "agents").is_dir():
        return f"{home} is a MemGPT 0.2 home (agent folders); open it once with MemGPT 0.3 to migrate it, then import."
    return f"{home} is not a MemGPT 0.3 home (its config names no 0.3 version)."


def _ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ImportFailed(f"{path} is not a readable MemGPT config ({exc.__class__.__name__}).") from exc
    return parser


def _where(config: configparser.ConfigParser, section: str, default: Path, notes: list[str]) -> Path:
    """A storage path from the config, or ``default`` when it names a directory that is not there
    (a home copied from another machine)."""
    written = config.get(section, "path", fallback="")
    if written and Path(written).expanduser().is_dir():
        return Path(written).expanduser()
    if written and Path(written).expanduser() != default:
        notes.append(f"the {section} path in config, {written}, is not here: read {default} instead")
    return default


def _query(db: Path, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute(sql, args)]
    except sqlite3.Error as exc:
        raise ImportFailed(f"{db} cannot be read ({exc}); nothing was imported.") from exc


def _credential_keys(path: Path) -> list[str]:
    if not path.is_file():
        return []
    try:
        parser = _ini(path)
    except ImportFailed:  # unreadable: nothing is taken from it either way
        return ["an unreadable file"]
    return [f"{s}.{k}" for s in parser.sections() for k, v in parser.items(s) if "key" in k and v.strip()]


# ------------------------------------------------------------------ one agent


def _agent(row: dict[str, Any], recall_db: Path) -> ImportedAgent:
    name = row["name"]
    state = _json(row.get("state"), name, "state")
    blocks = _blocks(state, name)
    ids = state.get("messages")
    if not isinstance(ids, list):
        raise ImportFailed(f"Agent {name!r} has no message list in its state; nothing was imported.")
    system = state.get("system") or row.get("system") or ""
    rows = _query(recall_db, f"SELECT * FROM {RECALL_TABLE} WHERE agent_id = ?", (str(row["id"]),))
    messages = [_message(r) for r in rows]
    roles = {m.source_id: m.role for m in messages}
    absent = [i for i in ids if i not in roles]
    window = [i for i in ids if roles.get(i) not in (None, "system")]
    llm = _json(row.get("llm_config"), name, "llm_config", optional=True)
    embedding = _json(row.get("embedding_config"), name, "embedding_config", optional=True)
    agent = ImportedAgent(
        name=name,
        system_prompt=system,
        blocks=blocks,
        messages=[m for m in messages if m.role != "system"],
        in_context=without_orphans(window, roles),
        model=model_settings(llm),
        embedding=SourceEmbedding.read(embedding),
        created_at=parse_time(row["created_at"]) if row.get("created_at") else None,
    )
    agent.skipped += wrapper_left(llm)
    if absent:
        agent.skipped.append(f"{len(absent)} in-context messages that recall does not hold")
    if copies := len(messages) - len(agent.messages):
        agent.skipped.append(
            f"{copies} stored copies of the system message (it is rebuilt from the prompt and core memory)"
        )
    tools = [f.get("name") for f in state.get("functions") or [] if isinstance(f, dict)] + _names(
        row.get("tools")
    )
    if foreign := sorted({str(t) for t in tools} - set(FUNCTION_NAMES)):
        agent.skipped.append(f"tools that are not memgpt-tui functions: {', '.join(foreign)}")
    return agent


def _names(tools: Any) -> list[str]:
    if isinstance(tools, str):
        try:
            tools = json.loads(tools)
        except ValueError:
            return []
    return [str(t) for t in tools] if isinstance(tools, list) else []


def _json(value: Any, name: str, what: str, optional: bool = False) -> dict[str, Any]:
    if value is None and optional:
        return {}
    try:
        data = json.loads(value) if isinstance(value, str | bytes) else value
    except ValueError as exc:
        raise ImportFailed(f"Agent {name!r} has an unreadable {what} ({exc}); nothing was imported.") from exc
    if not isinstance(data, dict):
        raise ImportFailed(f"Agent {name!r} has no {what}; nothing was imported.")
    return data


def _blocks(state: dict[str, Any], name: str) -> list[Block]:
    """Core memory in the three shapes of 0.3.x: ``memory`` of modules (0.3.19+), or top-level
    ``persona``/``human`` strings, with (0.3.0-0.3.17) or without (0.3.18) a ``functions`` list."""
    memory = state.get("memory")
    if isinstance(memory, dict):
        blocks = []
        for label, module in memory.items():
            value = module.get("value") if isinstance(module, dict) else module
            if isinstance(value, list):
                value = "\n".join(map(str, value))
            text = str(value or "")
            limit = int(module.get("limit") or DEFAULT_LIMIT) if isinstance(module, dict) else DEFAULT_LIMIT
            blocks.append(Block(label=str(label), value=text, limit=max(limit, len(text))))
        return blocks
    if "persona" in state or "human" in state:
        return [
            Block(label=label, value=text, limit=max(DEFAULT_LIMIT, len(text)))
            for label in ("persona", "human")
            for text in [str(state.get(label) or "")]
        ]
    raise ImportFailed(f"Agent {name!r} has a state this importer does not know; nothing was imported.")


def _message(row: dict[str, Any]) -> RawMessage:
    role: str = row.get("role") or "user"
    if role == "function":  # MemGPT's older name for a tool result
        role = "tool"
    calls = row.get("tool_calls")
    if isinstance(calls, str):
        try:
            calls = json.loads(calls)
        except ValueError:
            calls = None
    tool_calls = tuple(
        ToolCall(
            id=str(c.get("id") or f"call_{n}"),
            name=str(c["function"]["name"]),
            arguments=str(c["function"].get("arguments") or "{}"),
        )
        for n, c in enumerate(calls or [])
        if isinstance(c, dict) and isinstance(c.get("function"), dict)
    )
    valid: Role = role if role in ("system", "user", "assistant", "tool") else "user"  # type: ignore[assignment]
    return RawMessage(
        source_id=str(row["id"]),
        role=valid,
        content=row.get("text"),
        created_at=parse_time(row.get("created_at")),
        tool_calls=tool_calls,
        tool_call_id=row.get("tool_call_id"),
        name=row.get("name") if valid == "tool" else None,
    )


# ------------------------------------------------------------------ archival


def _passages(chroma: Path, agent_id: str) -> list[ImportedPassage]:
    """The agent's passages in Chroma's own SQLite: text and metadata (the vectors are another model's)."""
    rows = _query(
        chroma,
        "SELECT e.id AS row, e.embedding_id AS id, m.key, m.string_value, m.int_value, m.float_value, m.bool_value "
        "FROM embeddings e JOIN embedding_metadata m ON m.id = e.id "
        "JOIN segments s ON s.id = e.segment_id JOIN collections c ON c.id = s.collection "
        "WHERE c.name = ? AND e.id IN (SELECT id FROM embedding_metadata WHERE key = 'agent_id' AND string_value = ?) "
        "ORDER BY e.id",
        (ARCHIVAL_COLLECTION, agent_id),
    )
    found: dict[int, dict[str, Any]] = {}
    for r in rows:
        value = next(
            (r[k] for k in ("string_value", "int_value", "float_value", "bool_value") if r[k] is not None),
            None,
        )
        found.setdefault(r["row"], {"memgpt_id": r["id"]})[r["key"]] = value
    passages = []
    for meta in found.values():
        text = meta.get("chroma:document")
        if not text:
            continue
        extra = {k: v for k, v in meta.items() if k not in _PASSAGE_FIELDS}
        if "created_at" in extra:
            extra["created_at"] = parse_time(extra["created_at"]).isoformat()
        passages.append(ImportedPassage(text=str(text), metadata=extra))
    return passages
