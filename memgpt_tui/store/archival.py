"""Archival memory: passages with their embeddings, found by hybrid (vector + BM25) search."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, cast

from ..model.clock import new_id, now
from ..model.errors import EmbeddingMismatch, NotFound, StoreError
from ..model.records import Page, Passage
from .api import Embedder
from .meta import AttachedSource
from .rows import ARCHIVAL, passage_from_row, passage_row, sql_str
from .search import page_of, text_search
from .writes import Writes

if TYPE_CHECKING:
    import numpy as np

    from .lance import LanceVectorQueryBuilder

log = logging.getLogger(__name__)

_PASSAGE_COLUMNS = ["id", "text", "metadata", "created_at"]
_RRF_K = 60  # the usual reciprocal rank fusion constant: rank r scores 1 / (K + r)


class Archival(Writes):
    _search_pool: ThreadPoolExecutor | None  # created on the first search

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
        from .arrow import to_table

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
            return page_of([], 0, page, page_size)
        import numpy as np

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
        return page_of(items, len(fused), page, page_size)

    def _nearest(self, vector: np.ndarray) -> list[int]:
        """Row ids of the nearest passages, nearest first."""
        query = cast(
            "LanceVectorQueryBuilder", self._tables[ARCHIVAL].search(vector, vector_column_name="vector")
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
        hits = text_search(
            self._tables,
            ARCHIVAL,
            lambda table: (
                table.search(query, query_type="fts", fts_columns="text")
                .with_row_id(True)
                .limit(self.tuning.search_candidates)
                .select(["_score"])
                .to_arrow()
            ),
            self._upkeep_lock,
            self.name,
        )
        return hits["_rowid"].to_pylist()

    def _searcher(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._search_pool is None:
                self._search_pool = ThreadPoolExecutor(1, thread_name_prefix=f"store-search-{self.name}")
            return self._search_pool

    def archival_count(self) -> int:
        return self._archival_count

    def archival_list(self, page: int, page_size: int) -> Page[Passage]:
        """Every passage, newest first."""
        from .lance import ColumnOrdering

        self.sync()
        total = self._tables[ARCHIVAL].count_rows()
        if total == 0 or page < 0:
            return page_of([], total, page, page_size)
        rows = (
            self._tables[ARCHIVAL]
            .search()
            .select(_PASSAGE_COLUMNS)
            .order_by([ColumnOrdering(column_name="id", ascending=False)])
            .offset(page * page_size)
            .limit(page_size)
            .to_arrow()
        )
        return page_of([passage_from_row(r) for r in rows.to_pylist()], total, page, page_size)

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
