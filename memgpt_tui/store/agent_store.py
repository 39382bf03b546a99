"""LanceAgentStore: one agent's recall, archival memory and checkpoints in a LanceDB database.

Writes are journaled (microseconds) and moved into the Lance tables by a background writer in
batches; see ``journal.py`` and ``tables.py``. Recall ids, counts and the checkpoint list live in
memory, so the hot path (append, count, recent, checkpoint) never touches Lance. Searches first
apply whatever is still in the journal, so they see every write.

Every write gets the next ``seq``. A checkpoint pins the state plus its ``seq``; the tables' history
is kept as row versions (live tables + attics), so any checkpoint can be re-materialised no matter
how Lance versions were compacted and cleaned up since.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import numpy as np
import pyarrow as pa
from lancedb.index import FTS, IvfSq
from lancedb.query import ColumnOrdering, LanceVectorQueryBuilder
from lancedb.table import Table

from ..model.clock import new_id, now
from ..model.errors import EmbeddingMismatch, NotFound, StoreError
from ..model.messages import Message
from ..model.records import CheckpointInfo, Page, Passage
from ..model.state import AgentState
from . import paths, preview, states, upkeep
from .api import AgentStore, Embedder
from .journal import Journal, Record, SharedJournal, read_segment
from .lock import LEASE_SECONDS, lock_for
from .meta import AgentMeta, AttachedSource, check_embedding, read_meta, write_meta
from .refusals import damaged, unusable
from .rows import (
    ALL_TABLES,
    ARCHIVAL,
    CHECKPOINTS,
    MESSAGES,
    attic,
    checkpoint_from_row,
    message_from_row,
    message_row,
    micros,
    passage_from_row,
    passage_row,
    sql_str,
    to_table,
)
from .tables import StoreTables

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreTuning:
    flush_interval: float = 0.25  # seconds a write may wait in the journal before the writer moves it
    flush_records: int = 256  # or fewer, when this many records are waiting
    compact_after: int = 24  # commits (small fragments) per table before an upkeep round
    index_after: int = 2_048  # unindexed rows an index may leave to a direct scan before a refresh
    segment_rows: int = 16_384  # index segments below this take the next refresh's rows (upkeep.py)
    cleanup_after: timedelta = timedelta(minutes=2)  # unreferenced Lance versions older than this go
    small_table_rows: int = 4_096  # tables below this get LanceDB's whole-table optimize (upkeep.py)
    ann_threshold: int = 20_000  # archival rows before an ANN index pays for itself (exact below)
    ann_retrain_factor: float = 4.0  # retrain the ANN index when the table grew this much since
    ann_probes: int = 10  # ANN partitions searched per query (with the refine: recall@10 ~1, bench/search.py)
    ann_refine: int = 1  # re-rank the ANN candidates by their exact distance (quantization costs recall)
    search_candidates: int = 100  # archival hits ranked per search, as MemGPT's top_k
    fts_candidates: int = 1_000  # recall hits ranked per full-text search
    bulk_rows: int = 256  # archival inserts larger than this bypass the journal
    recent_cache: int = 1_024  # messages kept in memory for get_messages
    lease_seconds: float = LEASE_SECONDS  # the term of the writer's lease in an object store (lock.py)


_META_EVERY = timedelta(seconds=30)
_FTS_COLUMNS = ["id", "_score"]
_PASSAGE_COLUMNS = ["id", "text", "metadata", "created_at"]
_RRF_K = 60  # the usual reciprocal rank fusion constant: rank r scores 1 / (K + r)


class LanceAgentStore(AgentStore):
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
        self._shared: SharedJournal | None = None
        try:
            self._open(state_dir, create)
        except BaseException as exc:
            self._closed = True
            self._stop_uploads()
            self._lock_file.release()
            if isinstance(exc, OSError):
                raise unusable(name, exc) from exc
            if isinstance(exc, RuntimeError | ValueError | pa.ArrowException):  # Lance cannot read its files
                raise self._damaged(exc) from exc
            raise

    def _damaged(self, exc: BaseException) -> StoreError:
        return damaged(self.name, self.uri, exc)

    def _open(self, state_dir: Path, create: bool) -> None:
        try:
            self._tables = StoreTables(self.uri, self._meta.embedding.dim, create=create)
        except StoreError as exc:
            raise self._damaged(exc) from exc
        self._preview_gone = False
        self._lock = threading.RLock()  # in-memory views, seq and journal order
        self._flush_lock = threading.Lock()  # one writer into Lance at a time
        self._journal = Journal(state_dir / "journal")
        self._shared = None if paths.is_local(self.uri) else SharedJournal(self.uri)
        if self._shared is not None:
            self._start_uploads()
        self._replay_journal()
        self._ops: list[Record] = []
        self._backlog: list[tuple[Path, list[Record], bool]] = []
        self._commits = dict.fromkeys(ALL_TABLES, 0)
        self._seq = self._tables.max_seq()
        self._load_checkpoints()
        self._reload()
        self._roll_back_unfinished_step()
        self._commits = {name: self._commits_since_upkeep(name) for name in ALL_TABLES}
        self._bulk_rows = 0  # archival rows inserted in bulk since the last upkeep round
        self._upkeep_lock = threading.Lock()  # one upkeep round at a time, the writer's or a caller's
        self._ann_rows = self._indexed_vectors()
        self._ann_thread: threading.Thread | None = None
        self._search_pool: ThreadPoolExecutor | None = None
        self._meta_written = datetime.min.replace(tzinfo=UTC)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._writer = threading.Thread(
            target=self._write_loop, name=f"store-writer-{self.name}", daemon=True
        )
        self._writer.start()
        # The head the user meets holds what an unfinished step journaled of theirs: "the head before a
        # restore" then means the same to every way of undoing one.
        self._pin_unkept("reopened after an unfinished step")

    def _replay_journal(self) -> None:
        """Apply what the last session journaled but never applied: the local segments of a local
        store; the shared journal of one in an object store (whose local segments may predate writes
        made from another machine since)."""
        for segment in self._journal.segments():
            if self._shared is None:
                self._tables.apply(read_segment(segment), replay=True)
            elif lost := read_segment(segment):
                log.warning("agent %s: %d records of an unfinished step were dropped", self.name, len(lost))
            self._journal.remove(segment)
        if self._shared is not None:
            pending = self._shared.pending()
            for _, records in pending:
                self._tables.apply(records, replay=True)
            self._shared.remove([name for name, _ in pending])

    # ------------------------------------------------------- the shared journal (object stores)

    def _start_uploads(self) -> None:
        self._unsent: list[Record] = []  # journaled since the last checkpoint
        self._outbox: list[list[Record]] = []  # committed steps waiting for their upload
        self._uploaded: list[tuple[str, int]] = []  # object name, last seq: to delete once applied
        self._send = threading.Condition()
        self._sent = threading.Event()  # the outbox is empty
        self._sent.set()
        self._applied_seq = 0  # every seq up to this one is in the tables
        self._uploader = threading.Thread(target=self._upload_loop, name="store-upload", daemon=True)
        self._uploader.start()

    def _stop_uploads(self) -> None:
        """Once closed: let the uploader finish the upload in hand and end."""
        if self._shared is not None:
            with self._send:
                self._send.notify()
            self._uploader.join()

    def _upload_loop(self) -> None:
        assert self._shared is not None
        while True:
            with self._send:
                while not self._outbox and not self._closed:
                    self._send.wait()
                if self._closed:  # close() applies everything to the tables itself
                    return
                batch = self._outbox[0]
            try:
                name = self._shared.put(batch)
            except StoreError:
                log.exception("agent %s: uploading a step to the shared journal failed", self.name)
                self._stop.wait(1.0)
                continue
            with self._send:
                self._outbox.pop(0)
                self._uploaded.append((name, batch[-1]["seq"]))
                if not self._outbox:
                    self._sent.set()

    def _commit_step(self) -> None:
        """Hand the step's records to the uploader (on the loop: no waiting here)."""
        with self._send:
            if self._unsent:
                self._outbox.append(self._unsent)
                self._unsent = []
                self._sent.clear()
                self._send.notify()

    def _await_upload(self) -> None:
        """Before a new step writes, the last one must be in the store: a kill loses at most one step."""
        if not self._sent.wait(self.tuning.lease_seconds):
            raise StoreError(
                f"The object store of agent {self.name!r} has not taken the last step for "
                f"{self.tuning.lease_seconds:.0f} s; it is still being retried. Check the network, "
                "and try again."
            )

    def _forget_uploaded(self) -> None:
        """Delete the shared journal's objects whose records are all in the tables now."""
        if self._shared is None:
            return
        with self._send:
            done = [name for name, last in self._uploaded if last <= self._applied_seq]
            self._uploaded = [(n, last) for n, last in self._uploaded if last > self._applied_seq]
        self._shared.remove(done)

    # ---------------------------------------------------------------- lifecycle

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        self._writer.join()
        self._stop_uploads()
        if self._search_pool is not None:
            self._search_pool.shutdown()
        try:
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

    def sync(self) -> None:
        """Apply everything journaled so far to the Lance tables."""
        self._flush()

    def wait_committed(self) -> None:
        """Block until every checkpointed step is in the store itself: at once on disk, where the
        journal already is; on an object store, until the shared journal has the last step."""
        if self._shared is not None:
            self._await_upload()

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

    # ---------------------------------------------------------------- recall

    def append_messages(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        with self._lock:
            clash = [m.id for m in messages if m.id in self._msg_set]
            if clash or len({m.id for m in messages}) != len(messages):
                raise ValueError(f"messages already in recall: {clash or 'duplicate ids'}")
            seq = self._next_seq()
            self._append({"op": "messages", "seq": seq, "rows": [message_row(m, seq) for m in messages]})
            for message in messages:
                self._index_message(message, seq)

    def replace_messages(self, messages: Sequence[Message]) -> None:
        """New content for existing ids (/rewrite, /rethink); the old versions stay restorable."""
        if not messages:
            return
        with self._lock:
            missing = [m.id for m in messages if m.id not in self._msg_set]
            if missing:
                raise NotFound(f"no messages with ids {missing} in recall")
            seq = self._next_seq()
            self._append({"op": "forget", "seq": seq, "ids": [m.id for m in messages]})
            self._append({"op": "messages", "seq": seq, "rows": [message_row(m, seq) for m in messages]})
            for message in messages:
                self._pending[message.id] = (seq, message)
                self._remember(message)

    def delete_messages(self, ids: Sequence[str]) -> None:
        with self._lock:
            live = [i for i in dict.fromkeys(ids) if i in self._msg_set]
            if not live:
                return
            self._append({"op": "forget", "seq": self._next_seq(), "ids": live})
            for item_id in live:
                self._msg_set.discard(item_id)
                index = bisect.bisect_left(self._msg_ids, item_id)
                if index < len(self._msg_ids) and self._msg_ids[index] == item_id:
                    del self._msg_ids[index]
                self._pending.pop(item_id, None)
                self._recent.pop(item_id, None)

    def get_messages(self, ids: Sequence[str]) -> list[Message]:
        """The live messages with these ids, in the order asked; unknown ids are skipped."""
        found: dict[str, Message] = {}
        with self._lock:
            for item_id in ids:
                pending = self._pending.get(item_id)
                message = pending[1] if pending else self._recent.get(item_id)
                if message is not None:
                    found[item_id] = message
            missing = [i for i in dict.fromkeys(ids) if i not in found and i in self._msg_set]
        if missing:
            rows = self._tables.rows_by_id(MESSAGES, missing)
            for row in rows.to_pylist() if rows.num_rows else []:
                found[row["id"]] = message_from_row(row)
        return [found[i] for i in ids if i in found]

    def count_messages(self) -> int:
        return len(self._msg_ids)

    def recent_messages(self, before_id: str | None, limit: int) -> list[Message]:
        """Up to ``limit`` messages just before ``before_id`` (the newest when None), oldest first."""
        with self._lock:
            end = len(self._msg_ids) if before_id is None else bisect.bisect_left(self._msg_ids, before_id)
            ids = self._msg_ids[max(0, end - limit) : end] if limit > 0 else []
        return self.get_messages(ids)

    def search_messages(self, query: str, page: int, page_size: int) -> Page[Message]:
        """Full-text search over every message (BM25; ties go to the newest), paged."""
        self.sync()
        if not query.strip():
            return _page([], 0, page, page_size)
        hits = self._text_search(
            MESSAGES,
            lambda table: (
                table.search(query, query_type="fts", fts_columns="text")
                .limit(self.tuning.fts_candidates)
                .select(_FTS_COLUMNS)
                .to_arrow()
            ),
        )
        ranked = sorted(zip(hits["_score"].to_pylist(), hits["id"].to_pylist(), strict=True), reverse=True)
        ids = [item_id for _, item_id in ranked]
        chosen = ids[page * page_size : (page + 1) * page_size] if page >= 0 else []
        return _page(self.get_messages(chosen), len(ids), page, page_size)

    def search_messages_by_date(self, start: date, end: date, page: int, page_size: int) -> Page[Message]:
        """Messages from ``start`` to ``end``, both days included, in local time; oldest first."""
        self.sync()
        start, end = min(start, end), max(start, end)
        since = datetime.combine(start, time.min).astimezone(UTC)
        until = datetime.combine(end + timedelta(days=1), time.min).astimezone(UTC)
        where = f"created_at >= {_sql_time(since)} AND created_at < {_sql_time(until)}"
        table = self._tables[MESSAGES]
        total = table.count_rows(where)
        if total == 0 or page < 0:
            return _page([], total, page, page_size)
        rows = (
            table.search()
            .where(where)
            .order_by([ColumnOrdering(column_name="created_at"), ColumnOrdering(column_name="id")])
            .offset(page * page_size)
            .limit(page_size)
            .to_arrow()
        )
        return _page([message_from_row(r) for r in rows.to_pylist()], total, page, page_size)

    def pending_user_messages(self) -> list[Message]:
        """The human's messages no step answered (a crash, a failure): in recall and numbered past the
        head's step, or journaled after the head. Checkpoints made without answering them (a summary in
        the middle of the step, the pin of a restore, an undo) do not count as an answer."""
        self.sync()
        with self._lock:
            head_seq, step = self._head_seq(), self._checkpoints[-1].step if self._checkpoints else 0
        where = f"kind = 'user_message' AND (origin > {head_seq} OR step > {step})"
        rows = self._tables.rows(MESSAGES, where)
        return sorted((message_from_row(r) for r in rows.to_pylist()), key=lambda m: m.id)

    def _pin_unkept(self, why: str) -> None:
        """Checkpoint the head again when the human's messages were journaled after it, so that they
        belong to a checkpoint: restoring it (undoing whatever restore comes next) brings them back."""
        with self._lock:
            head_seq = self._head_seq()
        unkept = self._tables[MESSAGES].count_rows(f"kind = 'user_message' AND origin > {head_seq}")
        if unkept and (head := self.head()) is not None:
            self.checkpoint(head, None, f"{why}: {unkept} unanswered message{'s' * (unkept > 1)} kept")

    # ---------------------------------------------------------------- archival

    def archival_insert(self, texts: Sequence[str], metadata: dict[str, Any] | None = None) -> list[str]:
        if not texts:
            return []
        vectors = self._embedder_or_fail().embed_passages(texts)
        return self.archival_insert_embedded(texts, vectors, [metadata or {}] * len(texts))

    def archival_insert_embedded(
        self,
        texts: Sequence[str],
        vectors: Sequence[Sequence[float]] | np.ndarray,
        metadatas: Sequence[dict[str, Any]],
        source: str | None = None,
        source_keys: Sequence[str] | None = None,
    ) -> list[str]:
        """Insert passages whose vectors are already computed (attaching a data source)."""
        dim = self._meta.embedding.dim
        if any(len(v) != dim for v in vectors):
            raise EmbeddingMismatch(f"passages for agent {self.name!r} must have {dim}-d embeddings")
        ids = [new_id() for _ in texts]
        keys = list(source_keys) if source_keys is not None else [None] * len(texts)
        created = now()

        def rows(seq: int) -> list[dict[str, Any]]:
            return [
                passage_row(ids[i], seq, texts[i], vectors[i], metadatas[i], created, source, keys[i])
                for i in range(len(texts))
            ]

        if len(texts) <= self.tuning.bulk_rows:
            with self._lock:
                seq = self._next_seq()
                self._append({"op": "passages", "seq": seq, "rows": rows(seq)})
                self._archival_count += len(texts)
            return ids
        # large inserts go straight to Lance in one atomic commit: journaling megabytes buys nothing
        with self._flush_lock:
            self._flush_locked()
            with self._lock:
                seq = self._next_seq()
            self._tables[ARCHIVAL].add(to_table(rows(seq), self._tables.schemas[ARCHIVAL]))
            with self._lock:
                self._archival_count += len(texts)
                self._commits[ARCHIVAL] += 1
                self._bulk_rows += len(texts)
        self._wake.set()
        return ids

    def archival_search(self, query: str, page: int, page_size: int) -> Page[Passage]:
        """Hybrid search: nearest vectors and BM25 matches, fused with reciprocal rank fusion (RRF).

        ``total`` counts the ranked candidates (at most ``search_candidates``), as MemGPT's top-k did.
        Both legs run side by side and return row ids only (reading ids would cost more than the
        search); only the page asked for is read. Row ids change when rows move (a batch of deletes,
        a compaction, a restore), which only happens under the flush lock, so the search holds it.
        """
        if not query.strip() or self._archival_count == 0:
            return _page([], 0, page, page_size)
        vector = np.asarray(self._embedder_or_fail().embed_query(query), dtype=np.float32)
        table = self._tables[ARCHIVAL]
        with self._flush_lock:
            self._flush_locked()
            text_leg = self._searcher().submit(self._text_matches, query)
            near = self._nearest(vector)
            matched = text_leg.result()
            if len(matched) > self._archival_count / 2:
                # words found in most passages (the human's name, say) rank by length alone: noise to the fusion
                matched = []
            fused = _rrf(near, matched)[: self.tuning.search_candidates]
            chosen = dict(fused[page * page_size : (page + 1) * page_size] if page >= 0 else [])
            rows = table.take_row_ids(list(chosen)).with_row_id().select(_PASSAGE_COLUMNS).to_arrow()
        found = {row["_rowid"]: row for row in rows.to_pylist()}
        items = [passage_from_row(found[r], score) for r, score in chosen.items() if r in found]
        return _page(items, len(fused), page, page_size)

    def _nearest(self, vector: np.ndarray) -> list[int]:
        """Row ids of the nearest passages, nearest first."""
        query = cast(
            LanceVectorQueryBuilder, self._tables[ARCHIVAL].search(vector, vector_column_name="vector")
        )
        hits = (
            query.distance_type("cosine")
            .nprobes(self.tuning.ann_probes)
            .refine_factor(self.tuning.ann_refine)
            .with_row_id(True)
            .limit(self.tuning.search_candidates)
            .select(["_distance"])
        )
        return hits.to_arrow()["_rowid"].to_pylist()

    def _text_matches(self, query: str) -> list[int]:
        """Row ids of the best BM25 matches, best first."""
        hits = self._text_search(
            ARCHIVAL,
            lambda table: (
                table.search(query, query_type="fts", fts_columns="text")
                .with_row_id(True)
                .limit(self.tuning.search_candidates)
                .select(["_score"])
                .to_arrow()
            ),
        )
        return hits["_rowid"].to_pylist()

    def _text_search(self, name: str, run: Callable[[Table], pa.Table]) -> pa.Table:
        """``run`` on the table; a text index whose files are gone (deleted by hand, half copied) is
        rebuilt from the rows, once, instead of failing every search from then on."""
        try:
            return run(self._tables[name])
        except RuntimeError as exc:
            if "_indices" not in str(exc):
                raise
            log.warning("agent %s: rebuilding the text index of %s (%s)", self.name, name, exc)
            with self._upkeep_lock:
                self._tables[name].create_index("text", config=FTS(), replace=True)
            return run(self._tables[name])

    def _searcher(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._search_pool is None:
                self._search_pool = ThreadPoolExecutor(1, thread_name_prefix=f"store-search-{self.name}")
            return self._search_pool

    def archival_count(self) -> int:
        return self._archival_count

    def archival_list(self, page: int, page_size: int) -> Page[Passage]:
        """Every passage, newest first."""
        self.sync()
        total = self._tables[ARCHIVAL].count_rows()
        if total == 0 or page < 0:
            return _page([], total, page, page_size)
        rows = (
            self._tables[ARCHIVAL]
            .search()
            .select(_PASSAGE_COLUMNS)
            .order_by([ColumnOrdering(column_name="id", ascending=False)])
            .offset(page * page_size)
            .limit(page_size)
            .to_arrow()
        )
        return _page([passage_from_row(r) for r in rows.to_pylist()], total, page, page_size)

    def archival_update(self, passage_id: str, text: str) -> None:
        old = self._passage(passage_id)
        vector = self._embedder_or_fail().embed_passages([text])[0]
        with self._lock:
            seq = self._next_seq()
            row = passage_row(
                passage_id, seq, text, vector, {**old.metadata, "edited": now().isoformat()}, old.created_at
            )
            self._append({"op": "update_passage", "seq": seq, "row": row})

    def archival_delete(self, passage_id: str) -> None:
        self._passage(passage_id)
        self.archival_delete_many([passage_id])

    def archival_delete_many(self, ids: Sequence[str]) -> None:
        """Remove passages by id; ids that are not there are ignored."""
        if not ids:
            return
        self.sync()
        present = self._tables.rows_by_id(ARCHIVAL, list(dict.fromkeys(ids)), columns=["id"])
        live = present["id"].to_pylist() if present.num_rows else []
        if live:
            with self._lock:
                self._append({"op": "drop_passages", "seq": self._next_seq(), "ids": live})
                self._archival_count -= len(live)

    def source_keys(self, source: str) -> dict[str, str]:
        """Passages attached from ``source``: source key -> passage id."""
        self.sync()
        rows = self._tables.rows(ARCHIVAL, f"source = {sql_str(source)}", ["id", "source_key"])
        return dict(zip(rows["source_key"].to_pylist(), rows["id"].to_pylist(), strict=True))

    def record_source(self, source: str, chunks: int) -> None:
        with self._lock:
            self._meta.sources = [s for s in self._meta.sources if s.name != source]
            self._meta.sources.append(AttachedSource(name=source, attached_at=now(), chunks=chunks))
        self._write_meta()

    def attached_sources(self) -> list[AttachedSource]:
        return list(self._meta.sources)

    # ---------------------------------------------------------------- checkpoints

    def head(self) -> AgentState | None:
        with self._lock:
            newest = self._checkpoints[-1].id if self._checkpoints else None
        return self.checkpoint_state(newest) if newest else None

    def checkpoint(self, state: AgentState, label: str | None, summary: str) -> CheckpointInfo:
        with self._lock:
            seq = self._next_seq()
            info = CheckpointInfo(
                id=new_id(),
                step=state.step,
                time=now(),
                label=label,
                summary=summary,
                messages=len(self._msg_ids),
                archival=self._archival_count,
                in_context=len(state.in_context_ids),
            )
            packed = self._packer.pack(info.id, state)
            row = {
                **info.model_dump(exclude={"time"}),
                "seq": seq,
                "time": micros(info.time),
                "state": packed,
            }
            self._append({"op": "checkpoint", "seq": seq, "row": row})
            self._checkpoints.append(info)
            self._checkpoint_seq[info.id] = seq
            self._pending_states[info.id] = packed
            self._meta.backend, self._meta.model = state.config.backend, state.config.model
            if self._shared is not None:
                self._commit_step()
        return info

    def checkpoints(self) -> list[CheckpointInfo]:
        """Oldest first."""
        with self._lock:
            return list(self._checkpoints)

    def checkpoint_state(self, checkpoint_id: str) -> AgentState:
        with self._lock:
            if checkpoint_id not in self._checkpoint_seq:
                raise NotFound(f"No checkpoint {checkpoint_id!r} in agent {self.name!r}.")
        packed = self._packed_states([checkpoint_id]).get(checkpoint_id)
        if packed is None:
            raise StoreError(f"Checkpoint {checkpoint_id!r} of agent {self.name!r} has lost its state.")
        return states.unpack(packed, self._packed_states)

    def _packed_states(self, ids: Sequence[str]) -> dict[str, str]:
        """Checkpoint id -> packed state, from memory or Lance. Memory is looked at first: a flush drops
        a state from memory only once it is in Lance, so each one is found in one place or the other."""
        with self._lock:
            found = {i: self._pending_states[i] for i in ids if i in self._pending_states}
        missing = [i for i in ids if i not in found]
        if missing:
            rows = self._tables.rows_by_id(CHECKPOINTS, missing, columns=["id", "state"])
            if rows.num_rows:
                found.update(zip(rows["id"].to_pylist(), rows["state"].to_pylist(), strict=True))
        return found

    def restore(self, checkpoint_id: str) -> tuple[AgentState, CheckpointInfo]:
        """Put recall, archival and state back as they were at the checkpoint, as a new head.

        Nothing is lost: the previous head stays in the list, so restoring it undoes this.
        """
        with self._lock:
            target = next((c for c in self._checkpoints if c.id == checkpoint_id), None)
            if target is None:
                raise NotFound(f"No checkpoint {checkpoint_id!r} in agent {self.name!r}.")
            to_seq = self._checkpoint_seq[checkpoint_id]
        state = self.checkpoint_state(checkpoint_id)
        self.sync()
        self._pin_unkept("before a restore")
        self._rewind(to_seq, keep_user=False)
        label = f"restored {target.label or f'step {target.step}'}"
        when = target.time.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        return state, self.checkpoint(
            state, label, f"restored the checkpoint of step {target.step} from {when}"
        )

    # ---------------------------------------------------------------- internals

    def _next_seq(self) -> int:
        if not self._preview_gone:  # the head moves away from the preview: a crash must not show it
            preview.remove(self._state_dir)
            self._preview_gone = True
        self._seq += 1
        return self._seq

    def _append(self, record: Record) -> None:
        if self._closed:
            raise StoreError(f"The store of agent {self.name!r} is closed.")
        self._lock_file.check()
        if self._shared is not None:
            if not self._unsent:
                self._await_upload()
            self._unsent.append(record)
        self._journal.append(record)
        self._ops.append(record)
        if len(self._ops) >= self.tuning.flush_records:
            self._wake.set()

    def _index_message(self, message: Message, seq: int) -> None:
        if not self._msg_ids or message.id > self._msg_ids[-1]:
            self._msg_ids.append(message.id)
        else:
            bisect.insort(self._msg_ids, message.id)
        self._msg_set.add(message.id)
        self._pending[message.id] = (seq, message)
        self._remember(message)

    def _remember(self, message: Message) -> None:
        self._recent[message.id] = message
        self._recent.move_to_end(message.id)
        while len(self._recent) > self.tuning.recent_cache:
            self._recent.popitem(last=False)

    def _head_seq(self) -> int:
        return self._checkpoint_seq[self._checkpoints[-1].id] if self._checkpoints else 0

    def _load_checkpoints(self) -> None:
        columns = [f for f in self._tables.schemas[CHECKPOINTS].names if f != "state"]
        rows = self._tables[CHECKPOINTS].search().select(columns).to_arrow().sort_by("seq").to_pylist()
        self._checkpoints = [checkpoint_from_row(r) for r in rows]
        self._checkpoint_seq = {r["id"]: r["seq"] for r in rows}
        self._pending_states: dict[str, str] = {}  # packed, not in Lance yet
        self._packer = states.StatePacker()

    def _reload(self) -> None:
        """Rebuild the in-memory views from the Lance tables (on open and after a restore)."""
        ids = self._tables[MESSAGES].search().select(["id"]).to_arrow()["id"].to_pylist()
        self._msg_ids: list[str] = sorted(ids)
        self._msg_set = set(ids)
        self._pending: dict[str, tuple[int, Message]] = {}  # written, maybe not in Lance yet
        self._recent: OrderedDict[str, Message] = OrderedDict()
        self._archival_count = self._tables[ARCHIVAL].count_rows()

    def _roll_back_unfinished_step(self) -> None:
        """After a crash, make the tables agree with the head checkpoint again, keeping the human's words."""
        head = self._head_seq()
        if self._agrees_with(head):
            return
        log.info("agent %s: rolling back an unfinished step after checkpoint seq %d", self.name, head)
        self._rewind(head, keep_user=True)

    def _agrees_with(self, head: int) -> bool:
        """Live rows are exactly what was live at ``head``, plus the human's messages written since."""
        if self._tables[MESSAGES].count_rows(f"origin > {head} AND kind != 'user_message'"):
            return False
        if self._tables[ARCHIVAL].count_rows(f"origin > {head}"):
            return False
        if self._checkpoints:  # a restore cut short brings back older rows: the counts tell
            info, since = self._checkpoints[-1], self._tables[MESSAGES].count_rows(f"origin > {head}")
            if self._tables[MESSAGES].count_rows() != info.messages + since:
                return False
            if self._tables[ARCHIVAL].count_rows() != info.archival:
                return False
        for name in (MESSAGES, ARCHIVAL):
            removed = self._tables.rows(attic(name), f"seq <= {head} AND del_seq > {head}", ["id", "origin"])
            if not removed.num_rows:
                continue
            wanted = set(zip(removed["id"].to_pylist(), removed["origin"].to_pylist(), strict=True))
            live = self._tables.rows_by_id(name, sorted({i for i, _ in wanted}), columns=["id", "origin"])
            have = (
                set(zip(live["id"].to_pylist(), live["origin"].to_pylist(), strict=True))
                if live.num_rows
                else set()
            )
            if not wanted <= have:
                return False
        return True

    def _rewind(self, to_seq: int, *, keep_user: bool) -> None:
        with self._flush_lock, self._lock:
            self._append({"op": "restore", "seq": self._next_seq(), "to": to_seq, "keep_user": keep_user})
            self._flush_locked()
            if self._shared is not None:
                # in the tables now; a restore must never be replayed over later writes
                self._unsent = []
            self._reload()

    def _flush(self) -> None:
        with self._flush_lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        self._lock_file.check()
        with self._lock:
            if self._ops:
                segment = self._journal.rotate()
                assert segment is not None
                self._backlog.append((segment, self._ops, False))
                self._ops = []
        while self._backlog:
            segment, ops, replay = self._backlog[0]
            try:
                touched = self._tables.apply(ops, replay=replay)
            except BaseException:
                self._backlog[0] = (segment, ops, True)  # partly applied: the retry must skip what landed
                raise
            self._backlog.pop(0)
            self._journal.remove(segment)
            with self._lock:
                for op in ops:
                    if op["op"] == "messages":
                        for row in op["rows"]:
                            if self._pending.get(row["id"], (None,))[0] == row["seq"]:  # not rewritten since
                                del self._pending[row["id"]]
                    elif op["op"] == "checkpoint":
                        self._pending_states.pop(op["row"]["id"], None)
                for name in touched:
                    self._commits[name] += 1
                if self._shared is not None and ops:
                    self._applied_seq = max(self._applied_seq, max(op["seq"] for op in ops))
        self._forget_uploaded()

    def _write_loop(self) -> None:
        while not self._stop.is_set() and self._lock_file.held:
            self._wake.wait(self.tuning.flush_interval)
            self._wake.clear()
            try:
                self._flush()
                self.maintain()
                if now() - self._meta_written > _META_EVERY:
                    self._write_meta()
            except Exception:
                # the journal still holds every record; the next round retries
                log.exception("agent %s: background write failed", self.name)
                self._stop.wait(1.0)

    def maintain(self) -> None:
        """Run the upkeep that is due, in this thread: compact small fragments, fold new rows into the
        indexes, drop unreferenced versions. The background writer calls this after every flush."""
        with self._upkeep_lock:
            for name in ALL_TABLES:
                if not self._stop.is_set() and self._upkeep_due(name):
                    table = self._tables[name]
                    with self._flush_lock:
                        if not upkeep.whole_round(
                            table, self.tuning.small_table_rows, self.tuning.cleanup_after
                        ):
                            upkeep.compact(table)
                            upkeep.refresh_indexes(table, self.tuning.index_after, self.tuning.segment_rows)
                            upkeep.cleanup(table, self.tuning.cleanup_after)
                        self._commits[name] = 0
                        if name == ARCHIVAL:
                            self._bulk_rows = 0
            if self._needs_ann_index():
                self._ann_thread = threading.Thread(
                    target=self._build_ann_index, name="store-ann", daemon=True
                )
                self._ann_thread.start()

    def _upkeep_due(self, name: str) -> bool:
        """After ``compact_after`` commits to a table, or a bulk insert of ``index_after`` rows (one
        commit, but every search would scan its rows unindexed until a round folds them in)."""
        if name == ARCHIVAL:
            if self._ann_thread is not None and self._ann_thread.is_alive():
                return False
            if self._bulk_rows >= self.tuning.index_after:
                return True
        return self._commits[name] >= self.tuning.compact_after

    def _needs_ann_index(self) -> bool:
        if self._ann_thread is not None and self._ann_thread.is_alive():
            return False
        rows = self._archival_count
        if rows < self.tuning.ann_threshold:
            return False
        return self._ann_rows == 0 or rows >= self._ann_rows * self.tuning.ann_retrain_factor

    def _build_ann_index(self) -> None:
        # IVF_SQ measured best here: 50k x 384-d builds in ~0.6 s with recall@10 ~0.98 (IVF_PQ: 46 s, 0.17)
        try:
            rows = self._tables[ARCHIVAL].count_rows()
            self._tables[ARCHIVAL].create_index("vector", config=IvfSq(distance_type="cosine"), replace=True)
            self._ann_rows = rows
        except Exception:
            log.exception(
                "agent %s: building the archival vector index failed; searches stay exact", self.name
            )
            self._ann_rows = max(self._archival_count, 1)

    def _indexed_vectors(self) -> int:
        for index in self._tables[ARCHIVAL].list_indices():
            if index.columns == ["vector"]:
                stats = self._tables[ARCHIVAL].index_stats(index.name)
                return stats.num_indexed_rows if stats else 0
        return 0

    def _commits_since_upkeep(self, name: str) -> int:
        """On open: small fragments stand for the commits since the last upkeep round, and a long
        unindexed tail (a session that ended before its round) makes a round due at once."""
        table = self._tables[name]
        if max(upkeep.unindexed_rows(table).values(), default=0) >= self.tuning.index_after:
            return self.tuning.compact_after
        stats: Any = table.stats()
        return max(0, int(stats["fragment_stats"]["num_small_fragments"]) - 1)

    def meta(self) -> AgentMeta:
        """``agent.json`` as it stands now (counts and last use are refreshed on disk periodically)."""
        with self._lock:
            self._meta.last_used = now()
            self._meta.messages = len(self._msg_ids)
            self._meta.archival = self._archival_count
            return self._meta.model_copy(deep=True)

    def _write_meta(self) -> None:
        meta = self.meta()
        self._meta_written = meta.last_used or now()
        write_meta(self.uri, meta)

    def _embedder_or_fail(self) -> Embedder:
        if self._embedder is None:
            raise StoreError(
                f"Agent {self.name!r} was opened without an embedder; archival memory is read-only."
            )
        return self._embedder

    def _passage(self, passage_id: str) -> Passage:
        self.sync()
        rows = self._tables.rows(ARCHIVAL, f"id = {sql_str(passage_id)}", _PASSAGE_COLUMNS)
        if not rows.num_rows:
            raise NotFound(f"No archival memory with id {passage_id!r}.")
        return passage_from_row(rows.to_pylist()[0])


def _rrf(*rankings: list[int]) -> list[tuple[int, float]]:
    """Row ids by fused score, best first; ties keep the order of first appearance."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, row_id in enumerate(ranking):
            scores[row_id] = scores.get(row_id, 0.0) + 1.0 / (_RRF_K + rank)
    return sorted(scores.items(), key=lambda pair: pair[1], reverse=True)


def _page(items: list[Any], total: int, page: int, page_size: int) -> Page[Any]:
    pages = -(-total // page_size) if page_size > 0 else 0
    return Page(items=items, total=total, page=page, pages=pages)


def _sql_time(moment: datetime) -> str:
    return "timestamp " + sql_str(moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"))
