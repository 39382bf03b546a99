"""Upkeep that costs what changed: checkpoint states stored by difference, size-tiered compaction."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from memgpt_tui.store import registry, upkeep
from memgpt_tui.store.agent_store import LanceAgentStore, StoreTuning
from memgpt_tui.store.rows import ARCHIVAL, CHECKPOINTS, MESSAGES
from memgpt_tui.store.states import REFS
from tests.store.helpers import SYSTEM_PROMPT, make_state, turn


def stored_states(store: LanceAgentStore) -> list[str]:
    store.sync()
    rows = store._tables[CHECKPOINTS].search().select(["seq", "state"]).to_arrow().sort_by("seq")
    return rows["state"].to_pylist()


def test_long_texts_are_stored_once_and_every_state_comes_back(store: LanceAgentStore) -> None:
    state = make_state(persona="I am Sam. " * 40)
    expected = []
    for step in range(6):
        if step == 3:
            state.blocks[0].value = "I am Sam, and I like sailing. " * 20  # a core memory edit
        turn(store, state, f"message {step}", "ok")
        expected.append(state.model_copy(deep=True))
    rows = stored_states(store)
    assert [SYSTEM_PROMPT[:60] in row for row in rows] == [True] + [False] * 5
    assert ["I am Sam, and I like sailing." in row for row in rows] == [False] * 3 + [True] + [False] * 2
    assert all(REFS in row for row in rows[1:])
    assert [store.checkpoint_state(c.id) for c in store.checkpoints()] == expected


def test_packed_states_survive_reopen_export_import_and_restore(
    root: str, open_store: Callable[..., LanceAgentStore], tmp_path: Path
) -> None:
    store = open_store()
    state = make_state()
    for step in range(3):
        turn(store, state, f"message {step}", "ok")
    store.close()
    store = open_store()  # a new session refers to its own first checkpoint, not to older ones
    for step in range(3, 6):
        turn(store, state, f"message {step}", "ok")
    expected = [store.checkpoint_state(c.id) for c in store.checkpoints()]
    store.close()
    file = registry.export_agent(root, "sam", tmp_path / "sam.agent")
    registry.import_agent(root, file, "copy")
    copy = open_store("copy")
    checkpoints = copy.checkpoints()
    assert [copy.checkpoint_state(c.id) for c in checkpoints] == expected
    restored, _ = copy.restore(checkpoints[1].id)
    assert restored == expected[1] and copy.head() == expected[1]


def test_packed_states_come_back_from_the_journal(
    open_store: Callable[..., LanceAgentStore], tmp_path: Path
) -> None:
    store = open_store(tuning=StoreTuning(flush_interval=3600))
    state = make_state()
    for step in range(3):
        turn(store, state, f"message {step}", "ok")
    expected = [store.checkpoint_state(c.id) for c in store.checkpoints()]
    # what a killed process leaves: the files as they are now, the journal not yet applied
    agent_dir = Path(store.uri)
    assert list((agent_dir / "journal").glob("*.log"))
    shutil.copytree(agent_dir, tmp_path / "left")
    store.close()
    shutil.rmtree(agent_dir)
    shutil.move(tmp_path / "left", agent_dir)
    store = open_store()
    assert [store.checkpoint_state(c.id) for c in store.checkpoints()] == expected


def test_tiered_compaction_merges_the_newest_run_only() -> None:
    def sizes(*rows: int) -> list[SimpleNamespace]:
        return [SimpleNamespace(id=i, num_rows=n, num_deletions=0) for i, n in enumerate(rows)]

    def merged(*rows: int) -> list[int]:
        return [f.num_rows for f in upkeep._to_merge(sizes(*rows))]  # type: ignore[arg-type]

    assert merged(500, 3, 3, 3) == [3, 3, 3]  # the new small fragments, not the settled one
    fresh = [1] * 24  # one commit each since the last round: merged into a 24-row fragment
    assert merged(96, 24, 24, 24, *fresh) == fresh
    assert merged(96, 24, 24, 24, 24) == [24, 24, 24, 24]  # four of one tier: merged into one
    assert merged(300, 300, 300, 300, 96, 24) == [300, 300, 300, 300]
    assert merged(30_000, 30_000, 30_000, 30_000) == []  # never past the largest fragment size
    assert merged(500) == []


def test_index_folds_add_segments_merged_by_size_tier() -> None:
    def merged(segments: list[int], new_rows: int) -> int:
        return upkeep._segments_to_merge(segments, new_rows, 16_384)

    assert merged([], 2_048) == 0
    assert merged([0], 2_048) == 1  # the empty segment of a new table
    assert merged([50_000, 9_000], 2_048) == 1  # a small newest segment takes the new rows
    assert merged([50_000, 20_000], 2_048) == 0  # a large one does not: a new segment
    assert merged([20_000, 20_000, 20_000, 16_000], 2_048) == 4  # which joins three of its tier
    assert merged([80_000] * 3 + [20_000] * 3, 60_000) == 6  # and carries into the next tier
    assert merged([20_000] * 3, 200_000) == 0  # a bulk insert stands alone


def test_index_folds_keep_few_segments_and_find_every_row(open_store: Callable[..., LanceAgentStore]) -> None:
    tuning = StoreTuning(
        flush_interval=3600, compact_after=2, index_after=8, segment_rows=16, small_table_rows=0
    )  # the tiered path, which tables take past a few thousand rows
    store = open_store(tuning=tuning)
    state = make_state()
    for i in range(60):
        turn(store, state, f"a note about zebra{i}", "ok")
        store.sync()
        store.maintain()  # what the writer does between steps
    for name in ("text_idx", "id_idx"):
        stats = store._tables[MESSAGES].index_stats(name)
        assert stats is not None and stats.num_unindexed_rows < 8
        assert 1 < stats.num_indices <= 9, "folds add segments, and merge them by tier"
    for i in (0, 23, 59):
        assert [m.user_text() for m in store.search_messages(f"zebra{i}", 0, 5).items] == [
            f"a note about zebra{i}"
        ]
    assert len(store.get_messages([m.id for m in store.recent_messages(None, 200)])) == 180


def test_restore_after_tiered_compaction_and_cleanup(open_store: Callable[..., LanceAgentStore]) -> None:
    tuning = StoreTuning(
        flush_interval=0.01,
        compact_after=2,
        index_after=8,
        cleanup_after=timedelta(milliseconds=1),
        small_table_rows=0,
    )
    store = open_store(tuning=tuning)
    store.sync()  # a new agent's tables, made now: from here the writer moves every turn into Lance
    state = make_state()
    turn(store, state, "the very first thing", "ok")
    first, first_state = store.checkpoints()[-1], store.head()
    for i in range(60):
        turn(store, state, f"later {i}", "ok")
        time.sleep(0.01)  # let the writer flush, compact, fold and clean up between turns
    store.sync()
    with store._flush_lock:  # the writer may be in an upkeep round
        folded = store._tables[MESSAGES].index_stats("text_idx")
    assert folded is not None and folded.num_indexed_rows > 100  # new rows were folded into the index
    stats = store.storage_stats()
    assert stats[MESSAGES]["fragments"] < 20 and stats[CHECKPOINTS]["fragments"] < 20
    assert [m.user_text() for m in store.search_messages("later 7", 0, 1).items] == ["later 7"]
    state_back, _ = store.restore(first.id)
    assert state_back == first_state
    assert [m.user_text() or m.content for m in store.recent_messages(None, 100)][0] == "the very first thing"


def test_search_reads_the_right_rows_after_a_compaction(store: LanceAgentStore) -> None:
    facts = [f"fact number {i} about boats" for i in range(6)]
    for fact in facts:
        store.archival_insert([fact])
        store.sync()  # one fragment each
    before = store.archival_search("boats", 0, 10)
    with store._flush_lock:
        assert upkeep.compact(store._tables[ARCHIVAL])  # every row gets a new row id
    after = store.archival_search("boats", 0, 10)
    assert after == before and sorted(p.text for p in after.items) == facts


def test_a_small_table_is_optimized_whole_each_round(open_store: Callable[..., LanceAgentStore]) -> None:
    store = open_store(tuning=StoreTuning(flush_interval=3600, compact_after=2))
    state = make_state()
    for i in range(30):
        turn(store, state, f"small talk {i}", "ok")
        store.sync()
        store.maintain()
    stats = store.storage_stats()
    assert stats[MESSAGES]["fragments"] <= 2 and stats[CHECKPOINTS]["fragments"] <= 2
    text = store._tables[MESSAGES].index_stats("text_idx")
    assert text is not None and text.num_unindexed_rows <= 3  # folded by the same round
    assert [m.user_text() for m in store.search_messages("talk 17", 0, 1).items] == ["small talk 17"]
