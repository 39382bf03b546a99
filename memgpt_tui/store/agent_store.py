"""LanceAgentStore: one agent's recall, archival memory and checkpoints in a LanceDB database.

Writes are journaled (microseconds) and moved into the Lance tables by a background writer in
batches; see ``journal.py``, ``writes.py`` and ``tables.py``. A new agent on disk makes its tables on
first need (``writes.py``). Searches first apply whatever is still
in the journal, so they see every write. Every write gets the next ``seq``; ``checkpoints.py`` says
how that lets any checkpoint be restored. The parts: ``recall.py``, ``archival.py``,
``checkpoints.py``, ``writer.py`` (the background writer), ``uploads.py`` (an object store's shared
journal); this module opens and closes the whole.
"""

from __future__ import annotations

import logging
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..model.errors import StoreError
from . import paths, preview
from .api import AgentStore, Embedder
from .checkpoints import Checkpoints
from .journal import Journal, SharedJournal, read_segment
from .lock import lock_for
from .meta import check_embedding, read_meta
from .refusals import damaged, unusable
from .rows import ALL_TABLES
from .tuning import StoreTuning
from .unmade import journal_holds_everything
from .uploads import Uploads
from .writer import BackgroundWriter

if TYPE_CHECKING:
    import pyarrow as pa

    from .tables import StoreTables

__all__ = ["LanceAgentStore", "StoreTuning"]

log = logging.getLogger(__name__)


class LanceAgentStore(Checkpoints, BackgroundWriter, AgentStore):
    """Use ``registry.create_store`` / ``registry.open_store``; ``embedder`` None opens it for reading
    and export only (archival inserts and searches need one)."""

    def __init__(
        self,
        uri: str,
        name: str,
        embedder: Embedder | None,
        *,
        create: bool = False,
        tuning: StoreTuning | None = None,
    ) -> None:
        self.name = name
        self.uri = uri
        self.tuning = tuning or StoreTuning()
        self._embedder = embedder
        self._meta = read_meta(uri, name)
        if embedder is not None:
            check_embedding(self._meta, embedder.model, embedder.dim)
        state_dir = self._state_dir = paths.local_state_dir(uri)
        try:
            self._lock_file = lock_for(uri, name, self.tuning.lease_seconds).acquire()
        except OSError as exc:
            raise unusable(name, exc) from exc
        self._closed = False
        self._uploads = None
        self._stop = threading.Event()
        try:
            self._open(state_dir, create)
        except BaseException as exc:
            self._closed = True
            if self._uploads is not None:
                self._uploads.stop()
            self._lock_file.release()
            if (refusal := self._refusal(exc)) is not None:
                raise refusal from exc
            raise

    def _damaged(self, exc: BaseException) -> StoreError:
        return damaged(self.name, self.uri, exc)

    def _refusal(self, exc: BaseException) -> StoreError | None:
        """What the user is told of an error opening or making the store: a file that cannot be used,
        or tables Lance cannot read. None: an error of another kind, raised as it is."""
        if isinstance(exc, OSError):
            return unusable(self.name, exc)
        arrow = sys.modules.get("pyarrow")  # not imported: until it is, none of its errors was raised
        if isinstance(exc, RuntimeError | ValueError) or (
            arrow is not None and isinstance(exc, arrow.ArrowException)
        ):
            return self._damaged(exc)
        return None

    def _open(self, state_dir: Path, create: bool) -> None:
        self._journal = Journal(state_dir / "journal")
        self._made_lock = threading.Lock()
        self._made = None
        self._make = self._make_new_tables
        if not (create and paths.is_local(self.uri)):
            self._made = self._tables_on_open(create or self._unmade())
        self._preview_gone = False
        self._lock = threading.RLock()
        self._flush_lock = threading.Lock()
        shared = None if paths.is_local(self.uri) else SharedJournal(self.uri)
        if shared is not None:
            self._uploads = Uploads(
                shared, self.name, self.tuning.lease_seconds, lambda: self._closed, self._stop
            )
        # A new agent's tables are empty, or not made yet: nothing to read back, replay or roll back.
        fresh = create and not self._journal.segments()
        if not fresh:
            self._replay_journal(shared)
        self._ops = []
        self._backlog = []
        self._commits = dict.fromkeys(ALL_TABLES, 0)
        if fresh:
            self._seq = 0
            self._start_empty()
        else:
            self._seq = self._tables.max_seq()
            self._load_checkpoints()
            self._reload()
            self._roll_back_unfinished_step()
            self._commits = {name: self._commits_since_upkeep(name) for name in ALL_TABLES}
        self._bulk_rows = 0
        self._upkeep_lock = threading.Lock()
        self._ann_rows = 0 if fresh else self._indexed_vectors()
        self._ann_thread = None
        self._search_pool = None
        self._meta_written = datetime.min.replace(tzinfo=UTC)
        self._wake = threading.Event()
        self._writer = threading.Thread(
            target=self._write_loop, name=f"store-writer-{self.name}", daemon=True
        )
        self._writer.start()
        # The head the user meets holds what an unfinished step journaled of theirs: "the head before a
        # restore" then means the same to every way of undoing one.
        if not fresh:
            self._pin_unkept("reopened after an unfinished step")

    def _tables_on_open(self, create: bool) -> StoreTables:
        from .tables import StoreTables

        try:
            return StoreTables(self.uri, self._meta.embedding.dim, create=create)
        except StoreError as exc:
            raise self._damaged(exc) from exc

    def _make_new_tables(self) -> StoreTables:
        """A new agent's tables, on first need (in whichever thread needs them)."""
        try:
            return self._tables_on_open(True)
        except Exception as exc:
            if (refusal := self._refusal(exc)) is not None:
                raise refusal from exc
            raise

    def _unmade(self) -> bool:
        return paths.is_local(self.uri) and journal_holds_everything(self._journal.directory, self._meta)

    def _replay_journal(self, shared: SharedJournal | None) -> None:
        """Apply what the last session journaled but never applied: the local segments of a local
        store; the shared journal of one in an object store (whose local segments may predate writes
        made from another machine since)."""
        for segment in self._journal.segments():
            if shared is None:
                self._tables.apply(read_segment(segment), replay=True)
            elif lost := read_segment(segment):
                log.warning("agent %s: %d records of an unfinished step were dropped", self.name, len(lost))
            self._journal.remove(segment)
        if shared is not None:
            pending = shared.pending()
            for _, records in pending:
                self._tables.apply(records, replay=True)
            shared.remove([name for name, _ in pending])

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        self._writer.join()
        if self._uploads is not None:
            self._uploads.stop()
        if self._search_pool is not None:
            self._search_pool.shutdown()
        try:
            if self._due():  # else the journal waits for the next open, which makes the tables
                self._flush()
            if self._ann_thread is not None:
                self._ann_thread.join()
            self._write_meta()
        finally:
            self._journal.close()
            self._lock_file.release()

    def write_preview(self, data: bytes) -> None:
        preview.write(self._state_dir, data)

    def __enter__(self) -> LanceAgentStore:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    @property
    def embedding(self) -> tuple[str, int]:
        return self._meta.embedding.model, self._meta.embedding.dim

    def wait_committed(self) -> None:
        """Block until every checkpointed step is in the store itself: at once on disk, where the
        journal already is; on an object store, until the shared journal has the last step."""
        if self._uploads is not None:
            self._uploads.await_upload()

    def storage_stats(self) -> dict[str, dict[str, int]]:
        """Per table: live rows, fragments and Lance versions kept (compaction keeps these small)."""
        out = {}
        for name in ALL_TABLES:
            table = self._tables[name]
            stats: Any = table.stats()
            out[name] = {
                "rows": int(stats["num_rows"]),
                "fragments": int(stats["fragment_stats"]["num_fragments"]),
                "versions": len(table.list_versions()),
            }
        return out

    def snapshot(self) -> dict[str, pa.Table]:
        """Every table in full (live rows and history), for export."""
        self.sync()
        with self._flush_lock:
            return {name: self._tables[name].to_arrow() for name in ALL_TABLES}
