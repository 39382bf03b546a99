"""How an agent's store batches, compacts, indexes and searches: the knobs tests and benchmarks turn."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from .lock import LEASE_SECONDS


@dataclass(frozen=True)
class StoreTuning:
    flush_interval: float = 0.25  # seconds a write may wait in the journal before the writer moves it
    flush_records: int = 256  # or fewer, when this many records are waiting
    unmade_records: int = 4_096  # records a new agent's journal holds before its tables are made unasked
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
