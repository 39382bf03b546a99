"""Data sources: files chunked and embedded once, then attached to any agent's archival memory.

All sources share one LanceDB database (``<home>/sources``), one table per source. Loading is
incremental: a file whose content hash is already there is skipped, a changed file's chunks are
replaced. Attaching copies chunks with their vectors (no re-embedding) and is incremental too.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from pydantic import BaseModel

from ..model.clock import new_id, now
from ..model.errors import EmbeddingMismatch, StoreError
from . import location
from .api import AgentStore, Embedder
from .arrow import TIMESTAMP
from .chunking import chunk_text, kind_of
from .paths import check_name
from .rows import sql_in

if TYPE_CHECKING:
    from lancedb.table import Table

Progress = Callable[[int, int], None]

SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", "dist", "build"}
MAX_FILE_BYTES = 10_000_000
EMBED_BATCH = 16
WRITE_BATCH = 256
_MODEL_KEY, _DIM_KEY = b"embedding_model", b"embedding_dim"


class SourceInfo(BaseModel):
    name: str
    files: int
    chunks: int
    embedding_model: str
    dim: int


class LoadReport(BaseModel):
    added_files: int = 0
    changed_files: int = 0
    skipped_files: int = 0  # unchanged since the last load
    chunks: int = 0  # chunks embedded by this run
    unreadable: list[str] = []


def source_schema(model: str, dim: int) -> pa.Schema:
    fields = [
        ("id", pa.string()),
        ("path", pa.string()),
        ("chunk", pa.int32()),
        ("hash", pa.string()),
        ("text", pa.string()),
        ("vector", pa.list_(pa.float32(), dim)),
        ("created_at", TIMESTAMP),
    ]
    return pa.schema(fields, metadata={_MODEL_KEY: model.encode(), _DIM_KEY: str(dim).encode()})


def source_key(path: str, chunk: int, digest: str) -> str:
    return f"{path}#{chunk}@{digest}"


def walk(paths: Sequence[Path]) -> list[Path]:
    """Text files under ``paths``: files named directly are taken if they are text, directories are
    walked skipping hidden and build directories and taking known text extensions."""
    found: dict[Path, None] = {}
    for path in paths:
        path = path.expanduser().resolve()
        if path.is_file():
            found[path] = None
        elif path.is_dir():
            for file in _walk_dir(path):
                found[file] = None
        else:
            raise StoreError(f"{path} does not exist.")
    return sorted(found)


def _walk_dir(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS)
        for name in sorted(files):
            file = Path(folder) / name
            if not name.startswith(".") and kind_of(file) is not None:
                yield file


def _read_text(path: Path) -> tuple[str, str] | None:
    """The file's text and content hash; None for binary or oversized files."""
    data = path.read_bytes()
    if len(data) > MAX_FILE_BYTES or b"\x00" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace"), hashlib.sha256(data).hexdigest()


def _connect(root: str) -> Any:
    from .lance import lancedb  # a second to import: only commands that touch sources pay for it

    return lancedb.connect(root)


def _open(root: str, name: str) -> Table | None:
    db = _connect(root)
    try:
        return db.open_table(check_name(name, "source"))
    except ValueError:
        return None


def _embedding_of(table: Table) -> tuple[str, int]:
    metadata = table.schema.metadata or {}
    return metadata.get(_MODEL_KEY, b"?").decode(), int(metadata.get(_DIM_KEY, b"0"))


def load(
    root: str,
    name: str,
    paths: Sequence[Path],
    embedder: Embedder,
    progress: Progress | None = None,
    *,
    max_words: int = 300,
    overlap_words: int = 50,
) -> LoadReport:
    """Chunk, embed and store ``paths`` as source ``name``; ``progress(done, total)`` counts chunks."""
    check_name(name, "source")
    report = LoadReport()
    texts: list[tuple[Path, str, str]] = []  # file, text, content hash
    for file in walk(paths):
        try:
            read = _read_text(file)
        except OSError:
            read = None
        if read is None:
            report.unreadable.append(str(file))
        else:
            texts.append((file, *read))
    if not texts:
        raise StoreError(f"No text files found in {', '.join(map(str, paths))}.")
    location.make_dir(root)
    table = _open(root, name)
    if table is None:
        table = _connect(root).create_table(name, schema=source_schema(embedder.model, embedder.dim))
    model, dim = _embedding_of(table)
    if (model, dim) != (embedder.model, embedder.dim):
        raise EmbeddingMismatch(
            f"Source {name!r} holds {dim}-d embeddings from {model!r}; the configured embedder is "
            f"{embedder.model!r} ({embedder.dim}-d). Load it under a new name, or switch the embedder back."
        )
    known: dict[str, set[str]] = {}
    existing = table.search().select(["path", "hash"]).to_arrow()
    for path, digest in zip(existing["path"].to_pylist(), existing["hash"].to_pylist(), strict=True):
        known.setdefault(path, set()).add(digest)

    plan: list[tuple[str, str, list[str]]] = []  # path, hash, chunks
    for file, text, digest in texts:
        if known.get(str(file)) == {digest}:
            report.skipped_files += 1
            continue
        if str(file) in known:
            report.changed_files += 1
        else:
            report.added_files += 1
        plan.append((str(file), digest, chunk_text(text, kind_of(file) or "text", max_words, overlap_words)))

    total = sum(len(chunks) for _, _, chunks in plan)
    if progress:
        progress(0, total)
    writer = _Writer(table, embedder.dim)
    for path, digest, chunks in plan:
        writer.replace(path)
        for start in range(0, len(chunks), EMBED_BATCH):
            batch = chunks[start : start + EMBED_BATCH]
            vectors = embedder.embed_passages(batch)
            for offset, (text, vector) in enumerate(zip(batch, vectors, strict=True)):
                writer.add(path, start + offset, digest, text, vector)
            report.chunks += len(batch)
            if progress:
                progress(report.chunks, total)
    writer.flush()
    if plan:
        table.optimize()
    return report


class _Writer:
    """Batches source rows; a changed file's old chunks are deleted just before its new ones land."""

    def __init__(self, table: Table, dim: int) -> None:
        self.table = table
        self.schema = table.schema
        self.dim = dim
        self.replaced: list[str] = []
        self.rows: list[tuple[str, int, str, str, Sequence[float]]] = []

    def replace(self, path: str) -> None:
        self.replaced.append(path)

    def add(self, path: str, chunk: int, digest: str, text: str, vector: Sequence[float]) -> None:
        self.rows.append((path, chunk, digest, text, vector))
        if len(self.rows) >= WRITE_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.replaced:
            self.table.delete(sql_in("path", self.replaced))
            self.replaced = []
        if not self.rows:
            return
        vectors = np.asarray([r[4] for r in self.rows], dtype=np.float32).reshape(-1)
        created = now()
        data = pa.Table.from_arrays(
            [
                pa.array([new_id() for _ in self.rows]),
                pa.array([r[0] for r in self.rows]),
                pa.array([r[1] for r in self.rows], pa.int32()),
                pa.array([r[2] for r in self.rows]),
                pa.array([r[3] for r in self.rows]),
                pa.FixedSizeListArray.from_arrays(pa.array(vectors, pa.float32()), self.dim),
                pa.array([created] * len(self.rows), TIMESTAMP),
            ],
            schema=self.schema,
        )
        self.table.add(data)
        self.rows = []


def list_sources(root: str) -> list[SourceInfo]:
    if not location.exists(root):
        return []
    db = _connect(root)
    infos = []
    for name in db.table_names(limit=10_000):
        table = db.open_table(name)
        model, dim = _embedding_of(table)
        paths = table.search().select(["path"]).to_arrow()["path"]
        infos.append(
            SourceInfo(
                name=name,
                files=len(set(paths.to_pylist())),
                chunks=len(paths),
                embedding_model=model,
                dim=dim,
            )
        )
    return infos


def attach(root: str, name: str, store: AgentStore) -> int:
    """Bring source ``name`` into the agent's archival memory; returns how many passages were added.

    Chunks already attached stay; chunks of files changed since are replaced.
    """
    from .agent_store import LanceAgentStore

    if not isinstance(store, LanceAgentStore):
        raise StoreError(f"Agent {store.name!r} is not stored in LanceDB; sources cannot be attached to it.")
    table = _open(root, name) if location.exists(root) else None
    if table is None:
        raise StoreError(
            f"No data source named {name!r}. Load one with: memgpt-tui load --name {name} PATH..."
        )
    model, dim = _embedding_of(table)
    if (model, dim) != store.embedding:
        agent_model, agent_dim = store.embedding
        raise EmbeddingMismatch(
            f"Source {name!r} was embedded with {model!r} ({dim}-d) but agent {store.name!r} uses "
            f"{agent_model!r} ({agent_dim}-d). Load the files again under a new source name with the "
            "agent's embedding model, then attach that."
        )
    data = table.search().select(["path", "chunk", "hash", "text", "vector"]).to_arrow()
    keys = [
        source_key(p, c, h)
        for p, c, h in zip(
            data["path"].to_pylist(), data["chunk"].to_pylist(), data["hash"].to_pylist(), strict=True
        )
    ]
    attached = store.source_keys(name)
    current = set(keys)
    store.archival_delete_many([pid for key, pid in attached.items() if key not in current])
    fresh = [i for i, key in enumerate(keys) if key not in attached]
    if fresh:
        chosen = data.take(pa.array(fresh))
        vectors = chosen["vector"].combine_chunks().flatten().to_numpy().reshape(-1, dim)
        paths, chunks = chosen["path"].to_pylist(), chosen["chunk"].to_pylist()
        store.archival_insert_embedded(
            chosen["text"].to_pylist(),
            vectors,
            [{"source": name, "path": p, "chunk": c} for p, c in zip(paths, chunks, strict=True)],
            source=name,
            source_keys=[keys[i] for i in fresh],
        )
    store.record_source(name, len(keys))
    return len(fresh)
