"""The background writer: moves the journal into Lance in batches, runs the upkeep that is due
(compaction, index refresh, version cleanup), builds the archival vector index once it pays, and
refreshes ``agent.json``."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from ..model.clock import now
from . import upkeep
from .rows import ALL_TABLES, ARCHIVAL
from .writes import Writes

log = logging.getLogger(__name__)

_META_EVERY = timedelta(seconds=30)


class BackgroundWriter(Writes):
    _writer: threading.Thread
    _ann_thread: threading.Thread | None
    _ann_rows: int  # archival rows when the vector index was built

    def _write_loop(self) -> None:
        while not self._stop.is_set() and self._lock_file.held:
            self._wake.wait(self.tuning.flush_interval)
            self._wake.clear()
            try:
                if self._due():
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
        from .lance import IvfSq

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
