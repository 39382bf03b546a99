"""Upkeep of one Lance table, run by the store's background writer: compaction, index refresh and
cleanup of old versions, each costing about what was written since the last round.

``Table.optimize()`` is avoided on purpose: it rewrites every fragment under a million rows and merges
every index on each call, so upkeep (and with it the bytes written per checkpoint) would grow with
the history. Tables under ``StoreTuning.small_table_rows`` rows are the exception: rewriting them
whole is cheap, so they get ``optimize()`` (``whole_round``). Above that:

- compaction is size-tiered: the small fragments written since the last round are merged into one,
  and so is every run of ``_FANOUT`` neighbouring fragments of one size tier. A table keeps O(log n)
  fragments and a row is rewritten O(log n) times; fragments that lost a tenth of their rows to
  deletes are rewritten on their own.
- new rows are folded into an index only once ``index_after`` of them are unindexed: searches scan
  that tail directly, which costs little while it is short. A fold merges them into the newest index
  segment while that is small; past ``segment_rows`` it starts a new segment instead, and ``_FANOUT``
  segments of one size tier are merged into one. So a fold rewrites at most a small segment plus the
  tiered merges, not the whole index, and an index keeps O(log n) segments (each one is listed in every
  commit's manifest, which is why small ones are not kept apart). Vector indexes are the exception:
  each of their segments is searched with its own probes, so new rows always join the newest one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pylance itself loads with the first upkeep round, not with the store
    from lance.fragment import FragmentMetadata

    from .lance import Table

MAX_FRAGMENT_ROWS = 1 << 16  # fragments this big are left alone: scans barely gain from bigger ones
_FANOUT = 4  # fragments of one size tier merged at once
_SMALL_ROWS = 16  # fragments smaller than this (single commits) are always merged
_DELETED_SHARE = 0.1


def whole_round(table: Table, below_rows: int, older_than: timedelta) -> bool:
    """A small table's round in one call of LanceDB's own ``optimize`` (True if it was small enough):
    rewriting a few thousand rows costs about what a tiered round does, and it spares loading pylance,
    a second copy of the Lance core (some 60 MB resident), into an agent whose history is short."""
    if table.count_rows() >= below_rows:
        return False
    table.optimize(cleanup_older_than=older_than)
    return True


def compact(table: Table) -> bool:
    """Merge small fragments by size tier (and rewrite fragments full of deletes); True if any."""
    dataset = table.to_lance()
    fragments = [fragment.metadata for fragment in dataset.get_fragments()]
    chosen = {f.id for f in _to_merge(fragments)} | {f.id for f in fragments if _mostly_deleted(f)}
    if not chosen:
        return False
    dataset.optimize.compact_files(
        target_rows_per_fragment=MAX_FRAGMENT_ROWS,
        materialize_deletions_threshold=_DELETED_SHARE,
        excluded_fragment_ids=[f.id for f in fragments if f.id not in chosen],
    )
    table.checkout_latest()
    return True


def unindexed_rows(table: Table) -> dict[str, int]:
    """Index name -> rows not in that index yet."""
    return {index.name: index.num_unindexed_rows or 0 for index in table.list_indices()}


def refresh_indexes(table: Table, index_after: int, segment_rows: int) -> None:
    """Fold unindexed rows into every index that has at least ``index_after`` of them."""
    for index in table.list_indices():
        rows = index.num_unindexed_rows or 0  # None: no statistics for it
        if rows < index_after:
            continue
        dataset = table.to_lance()
        if index.index_type.lower().startswith(("ivf", "hnsw")):  # a vector index
            merged = 1
        else:
            segments = dataset.stats.index_stats(index.name)["num_indexed_rows_per_delta"]
            merged = _segments_to_merge(segments, rows, segment_rows)
        dataset.optimize.optimize_indices(index_names=[index.name], num_indices_to_merge=merged)
        table.checkout_latest()


def cleanup(table: Table, older_than: timedelta) -> None:
    """Delete the files of versions older than ``older_than`` (restores never need them)."""
    table.to_lance().cleanup_old_versions(older_than=older_than)


def _to_merge(fragments: list[FragmentMetadata]) -> list[FragmentMetadata]:
    """The small fragments at the end (single commits since the last round), and every ``_FANOUT``
    consecutive fragments of one size tier. Lance merges each run of chosen neighbours into one."""
    sizes = [_physical_rows(f) for f in fragments]
    fresh = len(sizes)
    while fresh > 0 and sizes[fresh - 1] < _SMALL_ROWS:
        fresh -= 1
    chosen = list(range(fresh, len(sizes))) if len(sizes) - fresh > 1 else []
    start = 0
    while start + _FANOUT <= fresh:
        group = sizes[start : start + _FANOUT]
        if len({_tier(size) for size in group}) == 1 and sum(group) <= MAX_FRAGMENT_ROWS:
            chosen += range(start, start + _FANOUT)
            start += _FANOUT
        else:
            start += 1
    return [fragments[i] for i in sorted(chosen)]


def _segments_to_merge(segments: list[int], new_rows: int, segment_rows: int) -> int:
    """How many of the newest index segments (rows each, oldest first) a fold merges with its new
    rows: the newest one while it is under ``segment_rows``, then every run of ``_FANOUT - 1``
    segments of the size tier the merged rows have reached."""
    merged, rows = 0, new_rows
    if segments and segments[-1] < segment_rows:
        merged, rows = 1, rows + segments[-1]
    while merged + _FANOUT - 1 <= len(segments):
        run = segments[len(segments) - merged - (_FANOUT - 1) : len(segments) - merged]
        if any(_tier(size) != _tier(rows) for size in run):
            break
        rows += sum(run)
        merged += _FANOUT - 1
    return merged


def _tier(rows: int) -> int:
    """Size class: rows in [FANOUT^t, FANOUT^(t+1))."""
    tier = 0
    while rows >= _FANOUT:
        rows //= _FANOUT
        tier += 1
    return tier


def _physical_rows(fragment: FragmentMetadata) -> int:
    return fragment.num_rows + fragment.num_deletions


def _mostly_deleted(fragment: FragmentMetadata) -> bool:
    return fragment.num_deletions > _DELETED_SHARE * _physical_rows(fragment)
