from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest

from memgpt_tui.model.errors import NotFound
from memgpt_tui.model.messages import user_message
from memgpt_tui.store.agent_store import LanceAgentStore, StoreTuning
from memgpt_tui.store.rows import ALL_TABLES
from tests.store.helpers import make_state, turn


def texts(store: LanceAgentStore) -> list[str | None]:
    return [m.user_text() or m.content for m in store.recent_messages(None, 1000)]


def archive(store: LanceAgentStore) -> dict[str, str]:
    return {p.id: p.text for p in store.archival_list(0, 1000).items}


def test_new_store_has_no_head_and_checkpoints_list_oldest_first(store: LanceAgentStore) -> None:
    assert store.head() is None and store.checkpoints() == []
    state = make_state()
    turn(store, state, "one", "1")
    turn(store, state, "two", "2", label="mine")
    infos = store.checkpoints()
    assert [(c.step, c.label, c.messages, c.in_context) for c in infos] == [
        (1, None, 3, 3),
        (2, "mine", 6, 6),
    ]
    assert infos[0].time <= infos[1].time
    assert store.head() == state
    assert store.checkpoint_state(infos[0].id).step == 1
    with pytest.raises(NotFound):
        store.checkpoint_state("missing")
    with pytest.raises(NotFound):
        store.restore("missing")


def test_restore_puts_every_tier_back_and_can_be_undone(store: LanceAgentStore) -> None:
    state = make_state()
    turn(store, state, "my cat is Tom", "nice")
    keep, change, drop = store.archival_insert(["keep me", "change me", "drop me"])
    turn(store, state, "remember things", "saved")
    early = store.checkpoints()[-1]
    early_texts, early_archive, early_state = texts(store), archive(store), state.model_copy(deep=True)

    state.blocks[0].value = "I am Sam, and I learned a lot."
    store.archival_update(change, "changed")
    store.archival_delete(drop)
    store.archival_insert(["brand new"])
    turn(store, state, "my dog is Rex", "cool")
    late = store.checkpoints()[-1]
    late_texts, late_archive = texts(store), archive(store)

    restored_state, info = store.restore(early.id)
    assert restored_state == early_state
    assert info.label == f"restored step {early.step}" and store.head() == early_state
    assert texts(store) == early_texts and archive(store) == early_archive
    assert (store.count_messages(), store.archival_count()) == (info.messages, info.archival) == (6, 3)
    assert store.search_messages("rex", 0, 5).total == 0
    assert store.archival_search("brand new", 0, 5).items[0].text != "brand new"
    assert store.get_messages(early_state.in_context_ids) == store.recent_messages(None, 1000)

    # undo: the head before the restore is still there
    undone_state, undo = store.restore(late.id)
    assert undone_state.blocks[0].value == "I am Sam, and I learned a lot."
    assert texts(store) == late_texts and archive(store) == late_archive
    assert store.search_messages("rex", 0, 5).total == 1
    assert [c.id for c in store.checkpoints()][-2:] == [info.id, undo.id]
    assert archive(store)[keep] == "keep me" and archive(store)[change] == "changed"


def test_restore_brings_back_replaced_and_deleted_messages(store: LanceAgentStore) -> None:
    state = make_state()
    first = turn(store, state, "hello", "hi there")
    checkpoint = store.checkpoints()[-1]
    store.replace_messages([first[1].model_copy(update={"content": "rethought"})])
    store.delete_messages([first[0].id])
    store.checkpoint(state, None, "/rethink and /pop")
    store.restore(checkpoint.id)
    assert store.get_messages([m.id for m in first]) == first


def test_restore_survives_reopen(open_store: Callable[..., LanceAgentStore]) -> None:
    store = open_store()
    state = make_state()
    turn(store, state, "alpha", "a")
    target = store.checkpoints()[-1]
    turn(store, state, "beta", "b")
    restored, info = store.restore(target.id)
    store.close()
    store = open_store()
    assert store.head() == restored
    assert store.checkpoints()[-1] == info
    assert texts(store) == ["alpha", "thinking at step 1", '{"status": "OK"}']


def test_restore_after_compaction_and_cleanup(open_store: Callable[..., LanceAgentStore]) -> None:
    tuning = StoreTuning(flush_interval=0.01, compact_after=2, cleanup_after=timedelta(milliseconds=1))
    store = open_store(tuning=tuning)
    state = make_state()
    turn(store, state, "the very first thing", "ok")
    ids = store.archival_insert(["first fact"])
    turn(store, state, "second", "ok")
    first = store.checkpoints()[-1]
    first_texts, first_archive = texts(store), archive(store)
    store.sync()
    pinned = {name: store._tables[name].version for name in ALL_TABLES}
    store.archival_delete(ids[0])
    for i in range(40):
        turn(store, state, f"later {i}", "ok")
        time.sleep(0.01)  # let the writer flush, compact and clean up between turns
    store.sync()
    time.sleep(0.01)
    for name in ("messages", "archival", "archival_attic", "checkpoints"):  # the tables written since
        # make sure no Lance version from the checkpoint's time is left to fall back on; under the
        # flush lock, as the store's own writer does, so the two never optimize one table at once
        with store._flush_lock:
            store._tables[name].optimize(cleanup_older_than=timedelta(milliseconds=1))
        assert min(v["version"] for v in store._tables[name].list_versions()) > pinned[name]
    assert store._tables["messages"].stats()["fragment_stats"]["num_fragments"] <= 2
    store.restore(first.id)
    assert texts(store) == first_texts and archive(store) == first_archive


def test_checkpoint_size_follows_the_window_not_the_history(store: LanceAgentStore) -> None:
    state = make_state()
    sizes = {}
    for step in range(1, 121):
        turn(store, state, f"message {step}", f"reply {step}")
        state.in_context_ids = state.in_context_ids[-9:]
        if step in (10, 120):
            sizes[step] = len(store.head().model_dump_json())  # type: ignore[union-attr]
    assert sizes[120] - sizes[10] < 40  # only digits in counters grew


def test_pending_user_messages(open_store: Callable[..., LanceAgentStore]) -> None:
    store = open_store()
    state = make_state()
    turn(store, state, "answered", "yes")
    waiting = user_message("still waiting for an answer", 2)
    store.append_messages([waiting])
    assert store.pending_user_messages() == [waiting]
    store.close()
    store = open_store()
    assert store.pending_user_messages() == [waiting]
    state.in_context_ids.append(waiting.id)
    state.step = waiting.step
    store.checkpoint(state, None, "answered it")
    assert store.pending_user_messages() == []


def test_the_head_reads_back_without_a_query_once_flushed(
    store: LanceAgentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The head's packed state and the rows it refers to stay in memory after the flush; another
    checkpoint's state still comes from Lance."""
    state = make_state()
    for n in range(5):
        state.blocks[0].value = f"I am Sam, who learned {n} things. " * 20  # a text long enough to be shared
        turn(store, state, f"message {n}", "ok")
    other = store.checkpoints()[3].id  # neither the head nor a row the head refers to
    store.sync()
    queried: list[list[str]] = []
    real = store._tables.rows_by_id

    def counted(name: str, ids: list[str], *args: object, **kwargs: object) -> object:
        queried.append(list(ids))
        return real(name, ids, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store._tables, "rows_by_id", counted)
    assert store.head() == state
    assert queried == []
    assert store.checkpoint_state(other).step == 4
    assert queried
