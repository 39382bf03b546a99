"""A new agent's Lance tables are made on first need: its first session, until then, lives in the
journal and in memory, and the next open makes the tables and replays it."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import lancedb
import pytest

from memgpt_tui.model.errors import StoreError
from memgpt_tui.store import registry
from memgpt_tui.store.agent_store import LanceAgentStore, StoreTuning
from memgpt_tui.store.arrow import messages_schema
from tests.store.helpers import HashEmbedder, make_state, turn


def tables(root: str, name: str = "sam") -> list[str]:
    return sorted(path.name for path in (Path(root) / name).glob("*.lance"))


def segments(root: str, name: str = "sam") -> list[Path]:
    return sorted((Path(root) / name / "journal").glob("*.log"))


def test_a_first_session_stays_in_the_journal_and_the_next_open_replays_it(
    open_store: Callable[..., LanceAgentStore], root: str
) -> None:
    store = open_store()
    state = make_state()
    said = [turn(store, state, f"note {i}", f"answer {i}") for i in range(3)]
    time.sleep(0.2)  # the writer's rounds (every 0.05 s) leave a new agent's journal as it is
    assert tables(root) == [] and segments(root)
    ids = [m.id for step in said for m in step]
    assert [m.id for m in store.get_messages(ids)] == ids
    assert store.head() == state and len(store.checkpoints()) == 3
    store.close()
    assert tables(root) == [] and segments(root)  # closing leaves the journal to the next open

    again = open_store()
    assert len(tables(root)) == 5
    assert [m.content for m in again.get_messages(ids)] == [m.content for step in said for m in step]
    assert again.head() == state and [c.summary for c in again.checkpoints()] == [
        "step 1",
        "step 2",
        "step 3",
    ]
    assert again.storage_stats()["messages"]["rows"] == len(ids)
    assert again.search_messages("note 2", 0, 5).items[0].user_text() == "note 2"


def test_a_search_makes_the_tables_and_finds_what_the_journal_holds(
    store: LanceAgentStore, root: str
) -> None:
    turn(store, make_state(), "my zebra is called Stripes", "noted")
    assert tables(root) == []
    [found] = store.search_messages("zebra", 0, 5).items
    assert found.user_text() == "my zebra is called Stripes"
    assert len(tables(root)) == 5


def test_a_long_first_session_makes_its_tables_unasked(
    open_store: Callable[..., LanceAgentStore], root: str
) -> None:
    store = open_store(tuning=StoreTuning(flush_interval=0.02, flush_records=4, unmade_records=12))
    state = make_state()
    for i in range(6):  # 3 records a step
        turn(store, state, f"note {i}", "ok")
    deadline = time.monotonic() + 20
    while len(tables(root)) < 5:
        assert time.monotonic() < deadline, "the writer never made the tables"
        time.sleep(0.05)
    store.sync()
    assert store.storage_stats()["messages"]["rows"] == 18


def test_an_agent_closed_unwritten_opens_empty_but_one_whose_tables_went_missing_is_damaged(
    open_store: Callable[..., LanceAgentStore], root: str, embedder: HashEmbedder
) -> None:
    open_store("quiet").close()
    with registry.open_store(root, "quiet", embedder) as quiet:  # what a kill before the first step leaves
        assert quiet.head() is None and quiet.count_messages() == 0
    used = open_store("used")
    turn(used, make_state(), "hello", "hi")
    used.sync()
    used.close()
    for table in (Path(root) / "used").glob("*.lance"):
        shutil.rmtree(table)
    with pytest.raises(StoreError, match="damaged"):
        registry.open_store(root, "used", embedder)


def test_a_making_of_the_tables_cut_short_is_finished_by_the_next_open(
    open_store: Callable[..., LanceAgentStore], root: str
) -> None:
    store = open_store()
    turn(store, make_state(), "my zebra is called Stripes", "noted")
    store.close()
    # what a kill while the first table was being made leaves: that table, without its indexes
    lancedb.connect(str(Path(root) / "sam")).create_table("messages", schema=messages_schema())
    again = open_store()
    assert len(tables(root)) == 5
    assert [m.user_text() for m in again.search_messages("zebra", 0, 5).items] == [
        "my zebra is called Stripes"
    ]
