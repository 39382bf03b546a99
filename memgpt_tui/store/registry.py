"""The agents under a root URI: list, create, open, delete, export and import.

Each agent is a directory ``<root>/<name>/`` holding its LanceDB tables and ``agent.json``. A directory
without a valid ``agent.json`` is never opened, overwritten or deleted.
"""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from ..model.clock import now
from ..model.errors import AgentLocked, StoreError
from . import location, paths
from .api import Embedder
from .lock import lock_for
from .meta import AgentMeta, EmbeddingInfo, check_embedding, meta_uri, read_meta, write_meta
from .rows import ALL_TABLES

if TYPE_CHECKING:  # LanceDB and pyarrow take a second to import: listing agents must not pay for it
    import pyarrow as pa

    from .agent_store import LanceAgentStore, StoreTuning

__all__ = [
    "AgentInfo",
    "AgentLocked",
    "StoreError",
    "create_store",
    "delete",
    "exists",
    "export_agent",
    "export_store",
    "import_agent",
    "list_agents",
    "open_store",
]

FILE_FORMAT = "memgpt-tui-agent-file"


class AgentInfo(BaseModel):
    name: str
    backend: str
    model: str
    last_used: datetime | None
    messages: int
    archival: int
    problem: str | None = None  # why the directory cannot be opened, if it cannot


def exists(root: str, name: str) -> bool:
    """True when anything (an agent or not) occupies the name."""
    return location.exists(paths.store_uri(root, name))


def list_agents(root: str) -> list[dict[str, Any]]:
    """One row per directory under ``root``, read from ``agent.json`` only (no tables are opened).
    Hidden directories (the users' agents on object storage, ``.users``) are not agents of the home."""
    rows = []
    for name in location.list_dirs(root):
        if name.startswith("."):
            continue
        uri = paths.join(root, name)
        try:
            meta = read_meta(uri, name)
        except StoreError as exc:
            rows.append(
                AgentInfo(
                    name=name, backend="", model="", last_used=None, messages=0, archival=0, problem=str(exc)
                )
            )
            continue
        rows.append(
            AgentInfo(
                name=name,
                backend=meta.backend or "",
                model=meta.model or "",
                last_used=meta.last_used,
                messages=meta.messages,
                archival=meta.archival,
            )
        )
    return [row.model_dump() for row in rows]


def create_store(
    root: str,
    name: str,
    embedder: Embedder,
    tuning: StoreTuning | None = None,
    *,
    endpoint: str | None = None,
) -> LanceAgentStore:
    """A new, empty agent store; refuses a name that is taken (by an agent or anything else).
    ``endpoint``: the agent's own embeddings endpoint, which ``embedder`` speaks (see EmbeddingInfo)."""
    uri = paths.store_uri(root, name)
    if location.exists(uri):
        raise _taken(name)
    from .agent_store import LanceAgentStore

    embedding = EmbeddingInfo(model=embedder.model, dim=embedder.dim, endpoint=endpoint)
    meta = AgentMeta(name=name, embedding=embedding)
    _claim(uri, name)
    try:
        write_meta(uri, meta)
        return LanceAgentStore(uri, name, embedder, create=True, tuning=tuning)
    except BaseException:
        _remove(uri)
        raise


def _taken(name: str) -> StoreError:
    return StoreError(f"An agent named {name!r} already exists. Pick another name, or delete it first.")


def _claim(uri: str, name: str) -> None:
    """Make the agent's directory, failing if another process made it first: two processes creating
    one name at once must not both go on (the loser's cleanup would delete the winner's agent)."""
    if not paths.is_local(uri):
        # no directories in an object store: whoever creates agent.json first (a conditional put) has
        # the name; the real metadata replaces this placeholder right after
        if location.create_new(meta_uri(uri), b"{}") is None:
            raise _taken(name)
        return
    path = paths.local_path(uri)
    for parent in reversed([p for p in path.parents if not p.exists()]):  # private from the top down
        parent.mkdir(mode=0o700, exist_ok=True)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        raise _taken(name) from None


def embedding(root: str, name: str) -> EmbeddingInfo:
    """What embedded the agent's archival, from ``agent.json`` (to build its embedder before opening)."""
    uri = paths.store_uri(root, name)
    if not location.exists(uri):
        raise StoreError(f"No agent named {name!r} in {root}.")
    return read_meta(uri, name).embedding


def open_store(
    root: str, name: str, embedder: Embedder | None, tuning: StoreTuning | None = None
) -> LanceAgentStore:
    from .agent_store import LanceAgentStore

    uri = paths.store_uri(root, name)
    if not location.exists(uri):
        raise StoreError(f"No agent named {name!r} in {root}.")
    return LanceAgentStore(uri, name, embedder, tuning=tuning)


def delete(root: str, name: str) -> None:
    """Delete an agent for good. Refuses an agent open elsewhere and a directory that is not an agent."""
    uri = paths.store_uri(root, name)
    if not location.exists(uri):
        raise StoreError(f"No agent named {name!r} in {root}.")
    read_meta(uri, name)
    with lock_for(uri, name):
        _remove(uri)


def _remove(uri: str) -> None:
    location.delete_dir(uri)
    if not paths.is_local(uri):
        location.delete_dir(str(paths.local_state_dir(uri)))


# ------------------------------------------------------------------ agent files


class _FileHeader(BaseModel):
    format: str
    version: int
    exported_at: datetime
    agent: AgentMeta


def export_agent(root: str, name: str, file: Path) -> Path:
    """Export an agent that is not open (see ``export_store`` for one that is)."""
    store = open_store(root, name, None)
    try:
        return export_store(store, file)
    finally:
        store.close()


def export_store(store: LanceAgentStore, file: Path) -> Path:
    """Write the whole agent (state, checkpoints, recall, archival with vectors, history) to one zip.

    Tables travel as Parquet; nothing from the config (API keys) is included. The file is 0600.
    """
    import pyarrow.parquet as pq

    header = _FileHeader(format=FILE_FORMAT, version=1, exported_at=now(), agent=store.meta())
    file = file.expanduser()
    tmp = file.with_name(file.name + ".part")
    tmp.touch(mode=0o600)
    try:
        with zipfile.ZipFile(tmp, "w") as archive:
            archive.writestr(
                "agent.json", header.model_dump_json(indent=1), compress_type=zipfile.ZIP_DEFLATED
            )
            for table, data in store.snapshot().items():
                buffer = io.BytesIO()
                pq.write_table(data, buffer, compression="zstd")
                archive.writestr(f"{table}.parquet", buffer.getvalue())
        tmp.replace(file)
    finally:
        tmp.unlink(missing_ok=True)
    return file


def import_agent(root: str, file: Path, name: str | None = None, embedder: Embedder | None = None) -> str:
    """Create an agent from an exported file, under its own name or ``name``; returns the name used."""
    import pyarrow as pa

    from .tables import StoreTables

    header, tables = _read_agent_file(file.expanduser())
    target = paths.check_name(name or header.agent.name)
    if embedder is not None and header.agent.embedding.endpoint is None:  # else it keeps its own
        check_embedding(header.agent, embedder.model, embedder.dim)
    uri = paths.store_uri(root, target)
    if location.exists(uri):
        raise StoreError(
            f"An agent named {target!r} already exists; import under another name (--name), or delete it first."
        )
    meta = header.agent.model_copy(update={"name": target})
    location.make_dir(uri)
    try:
        with lock_for(uri, target):
            created = StoreTables(uri, meta.embedding.dim, create=True)
            for table_name, data in tables.items():
                if data.num_rows:
                    created[table_name].add(data.cast(created.schemas[table_name]))
                created[table_name].optimize()  # index what was just added
        write_meta(uri, meta)  # last: until it exists, the directory is not an agent
    except pa.ArrowException as exc:
        _remove(uri)
        raise StoreError(f"{file} does not hold the tables of a memgpt-tui agent ({exc}).") from exc
    except BaseException:
        _remove(uri)
        raise
    return target


def _read_agent_file(file: Path) -> tuple[_FileHeader, dict[str, pa.Table]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with zipfile.ZipFile(file) as archive:
            header = _FileHeader.model_validate_json(archive.read("agent.json"))
            if header.format != FILE_FORMAT or header.version != 1:
                raise StoreError(
                    f"{file} is a {header.format} v{header.version} file, not a memgpt-tui agent file."
                )
            tables = {t: pq.read_table(io.BytesIO(archive.read(f"{t}.parquet"))) for t in ALL_TABLES}
    except (OSError, KeyError, zipfile.BadZipFile, ValidationError, pa.ArrowException) as exc:
        raise StoreError(f"{file} is not a readable memgpt-tui agent file ({exc}).") from exc
    return header, tables
