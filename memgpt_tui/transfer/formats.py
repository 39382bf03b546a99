"""One import that recognises what it is given, and export in each format."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..model.errors import StoreError
from ..model.state import AgentConfig, AgentState
from ..store import paths, registry
from ..store.api import AgentStore, Embedder
from . import agentfile, embedding, markdown, memgpt_home
from .imported import Imported, ImportedSummary, ImportFailed, safe_name, write

Format = Literal["memgpt-tui", "af", "md"]
FORMATS: tuple[Format, ...] = ("memgpt-tui", "af", "md")
EXPORT_KIND = "memgpt-tui export"


@dataclass
class ImportReport:
    kind: str
    agents: list[ImportedSummary]
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # what could not be carried over


def import_path(
    root: str,
    path: Path,
    name: str | None,
    wanted: Sequence[str],
    base: AgentConfig,
    embedder: Embedder,
    *,
    source_model: bool = True,
    source_embedding: bool = False,
) -> ImportReport:
    """Import every agent (or the ``wanted`` ones) that ``path`` holds. ``source_model``: use the
    source's model settings where they map onto a backend here, else ``base`` as it is.
    ``source_embedding``: an agent keeps its source's embedding endpoint where we speak it, else
    ``embedder`` embeds every agent's archival."""
    path = path.expanduser()
    if not path.exists():
        raise ImportFailed(f"No such file or directory: {path}")
    if path.is_file() and zipfile.is_zipfile(path):
        if wanted:
            raise ImportFailed(
                "--agent picks agents from a MemGPT home or Agent File; a memgpt-tui export holds one."
            )
        target = registry.import_agent(root, path, name, embedder)
        if not (source_model or source_embedding):
            _refuse_own_endpoints(root, target, base)
        info = next(i for i in registry.list_agents(root) if i["name"] == target)
        whole = ImportedSummary(target, target, 0, info["messages"], info["archival"], {})
        return ImportReport(EXPORT_KIND, [whole])
    imported = _read(path, list(wanted))
    names = _names(imported, name)
    for agent in imported.agents:
        if not source_model:
            agent.model = {}
        elif not agent.model:
            agent.skipped.append(
                f"its model settings, which map onto no backend here (it uses {base.backend}:{base.model})"
            )
    embeddings = [embedding.plan(a.embedding, embedder, source_embedding) for a in imported.agents]
    for agent, chosen in zip(imported.agents, embeddings, strict=True):
        agent.skipped += [chosen.left] if chosen.left else []
    summaries = write(root, imported, base, embeddings, names)
    skipped = imported.skipped + [f"{a.name}: {note}" for a in imported.agents for note in a.skipped]
    return ImportReport(imported.kind, summaries, imported.notes, skipped)


def _refuse_own_endpoints(root: str, name: str, base: AgentConfig) -> None:
    """An export keeps its agent's model and embedding endpoints; where a file's endpoints are not
    taken, one that names others than ``base``'s is removed again."""
    store = registry.open_store(root, name, None)
    try:
        state = store.head()
    finally:
        store.close()
    embeds_elsewhere = registry.embedding(root, name).endpoint is not None
    if embeds_elsewhere or (state is not None and state.config.base_url not in (None, base.base_url)):
        registry.delete(root, name)
        raise ImportFailed(
            "This export's agent uses a model or embedding server of its own, which is not taken here; "
            "import it as a Letta Agent File instead (memgpt-tui export AGENT FILE --format af)."
        )


def _read(path: Path, wanted: list[str]) -> Imported:
    if path.is_dir():
        if (path / "sqlite.db").is_file() and not memgpt_home.is_home(path):
            raise ImportFailed(memgpt_home.layout_message(path, ""))
        if not memgpt_home.is_home(path):
            raise ImportFailed(
                f"{path} is a directory but not a MemGPT home (it has no config file); nothing was imported."
            )
        return memgpt_home.read_home(path, wanted)
    if agentfile.looks_like(path):
        return agentfile.read_agent_file(path, wanted)
    raise ImportFailed(f"{path} is neither a memgpt-tui export, a Letta Agent File nor a MemGPT home.")


def _names(imported: Imported, name: str | None) -> list[str]:
    if name is not None and len(imported.agents) != 1:
        raise ImportFailed(
            f"A new name is for one agent, but this {imported.kind} holds {len(imported.agents)}: "
            "pick one (--agent NAME) to rename it."
        )
    names = [paths.check_name(name)] if name else [safe_name(a.name) for a in imported.agents]
    if len(set(names)) != len(names):
        raise ImportFailed(
            "Two agents would get the same name; import them one at a time with --agent and --name."
        )
    return names


# ------------------------------------------------------------------ export


def format_for(file: Path, chosen: str | None) -> Format:
    if chosen is not None:
        if chosen not in FORMATS:
            raise StoreError(f"Unknown export format {chosen!r}: use {', '.join(FORMATS)}.")
        return chosen  # type: ignore[return-value]
    return {".md": "md", ".af": "af"}.get(file.suffix.lower(), "memgpt-tui")  # type: ignore[return-value]


def export_agent(root: str, name: str, file: Path, chosen: str | None = None) -> Path:
    """Export an agent that is not open."""
    store = registry.open_store(root, name, None)
    try:
        state = store.head()
        if state is None:
            raise StoreError(f"Agent {name!r} has no saved state to export.")
        return export_open(store, state, file, chosen)
    finally:
        store.close()


def export_open(store: AgentStore, state: AgentState, file: Path, chosen: str | None = None) -> Path:
    """Export from an open store and the agent's current state, in the format the file asks for."""
    file = file.expanduser()
    fmt = format_for(file, chosen)
    if fmt == "memgpt-tui":
        return registry.export_store(store, file)  # type: ignore[arg-type]
    if fmt == "af":
        window = store.get_messages(state.in_context_ids)
        data = agentfile.export_v2(state, window, store.count_messages(), store.archival_count())
        text = json.dumps(data, indent=2, ensure_ascii=False)
    else:
        text = markdown.render(state, store.recent_messages(None, store.count_messages()))
    return _write_private(file, text)


def _write_private(file: Path, text: str) -> Path:
    """Write through a temporary file, 0600: an export holds a whole conversation."""
    tmp = file.with_name(file.name + ".part")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        tmp.replace(file)
    except OSError as exc:
        raise StoreError(f"Cannot write {file}: {exc.strerror or exc}.") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return file
