"""Undoing a restore (restoring the checkpoint that was the head before it) brings back exactly what
the store held before the restore: recall, archival and state, the human's unanswered words included."""

from __future__ import annotations

from collections.abc import Callable

from memgpt_tui.model.messages import user_message
from memgpt_tui.store.agent_store import LanceAgentStore
from tests.store.helpers import make_state, turn


def recall(store: LanceAgentStore) -> list[tuple[str, str | None]]:
    return [(m.id, m.content) for m in store.recent_messages(None, 10_000)]


def archival(store: LanceAgentStore) -> dict[str, str]:
    return {p.id: p.text for p in store.archival_list(0, 10_000).items}


def test_undoing_a_restore_keeps_unanswered_user_messages(open_store: Callable[..., LanceAgentStore]) -> None:
    store = open_store()
    state = make_state()
    turn(store, state, "one", "1")
    first = store.checkpoints()[-1]
    turn(store, state, "two", "2")
    store.archival_insert(["a fact"])
    unanswered = user_message("are you there?", state.step + 1)
    store.append_messages([unanswered])  # sent, then the app was killed before the reply
    store.close()

    store = open_store()
    before = (recall(store), archival(store), store.head())
    assert [m.id for m in store.pending_user_messages()] == [unanswered.id]
    store.restore(first.id)
    assert unanswered.id not in {i for i, _ in recall(store)}
    undo_point = store.checkpoints()[-2]  # the head before the restore
    store.restore(undo_point.id)
    assert (recall(store), archival(store)) == before[:2]
    assert store.head() == before[2]
    store.close()
    store = open_store()  # and so it stays
    assert (recall(store), archival(store)) == before[:2]


def test_after_a_crash_restoring_the_head_seen_before_a_restore_undoes_it(
    open_store: Callable[..., LanceAgentStore],
) -> None:
    """Reopening pins what the unfinished step journaled of the human's, so the head a person sees
    before restoring holds it, however they undo."""
    store = open_store()
    state = make_state()
    turn(store, state, "one", "1")
    first = store.checkpoints()[-1]
    turn(store, state, "two", "2")
    unanswered = user_message("are you there?", state.step + 1)
    store.append_messages([unanswered])
    store.close()

    store = open_store()
    seen = store.checkpoints()[-1]
    before = (recall(store), archival(store), store.head())
    store.restore(first.id)
    store.restore(seen.id)
    assert (recall(store), archival(store), store.head()) == before
    assert store.pending_user_messages() == [unanswered]  # still waiting for its answer


def test_a_checkpoint_in_the_middle_of_a_step_does_not_answer_the_message(
    open_store: Callable[..., LanceAgentStore],
) -> None:
    store = open_store()
    state = make_state()
    turn(store, state, "one", "1")
    waiting = user_message("a long story", state.step + 1)
    store.append_messages([waiting])
    store.checkpoint(state, None, "summarised 4 messages into recall")  # the step's fit, then a kill
    store.close()
    store = open_store()
    assert store.pending_user_messages() == [waiting]
