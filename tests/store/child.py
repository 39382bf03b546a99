"""A second memgpt-tui process for the lock and crash tests: ``python -m tests.store.child MODE ROOT``.

``hold``: open the agent and wait to be killed. ``work``: resume the agent and run steps as the engine
does (user message first, then reply, archival writes, sometimes a /pop, /rethink or restore, then a
checkpoint) until killed, printing each completed checkpoint's id. ``talk``: a new agent's first
session, steps of messages and checkpoints only (nothing that needs its tables). All print ``ready``
once open.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import timedelta

from memgpt_tui.model.messages import Message, user_message
from memgpt_tui.model.state import AgentState
from memgpt_tui.store import registry
from memgpt_tui.store.agent_store import LanceAgentStore, StoreTuning
from tests.store.helpers import HashEmbedder, make_state, reply

# flush and compact constantly, so kills land inside every kind of write
CHAOS = StoreTuning(
    flush_interval=0.005, flush_records=4, compact_after=3, cleanup_after=timedelta(milliseconds=1)
)


def open_agent(root: str) -> LanceAgentStore:
    if registry.exists(root, "crash"):
        return registry.open_store(root, "crash", HashEmbedder(), CHAOS)
    return registry.create_store(root, "crash", HashEmbedder(), CHAOS)


def exchange(store: LanceAgentStore, state: AgentState, step: int) -> list[Message]:
    """The user's message, then the reply (returned), as a step writes them; both in the window."""
    said = user_message(f"user says {step}", step)
    store.append_messages([said])
    answer = reply(f"answer {step}", step)
    store.append_messages(answer)
    state.in_context_ids = [*state.in_context_ids, said.id, *(m.id for m in answer)][-12:]
    return answer


def work(store: LanceAgentStore) -> None:
    rng = random.Random()
    state = store.head() or make_state("crash")
    store.delete_messages([m.id for m in store.pending_user_messages()])
    while True:
        step = state.step + 1
        answer = exchange(store, state, step)
        if step % 2 == 0:
            store.archival_insert([f"fact from step {step}"], {"step": step})
        if step % 5 == 0 and store.archival_count():
            victim = store.archival_list(0, 1).items[0]
            store.archival_update(victim.id, f"{victim.text}, revised at step {step}")
        if step % 7 == 0:
            store.replace_messages([answer[0].model_copy(update={"content": f"rethought at step {step}"})])
        if step % 11 == 0:
            popped = state.in_context_ids[-3:]
            store.delete_messages(popped)
            state.in_context_ids = state.in_context_ids[:-3]
        state.step = step
        state.blocks[0].value = f"persona after step {step}"
        done = store.checkpoint(state, None, f"step {step}")
        print("checkpoint", done.id, flush=True)
        if step % 13 == 0:
            state, done = store.restore(rng.choice(store.checkpoints()[-6:]).id)
            print("checkpoint", done.id, flush=True)


def talk(store: LanceAgentStore) -> None:
    state = make_state("crash")
    while True:
        step = state.step + 1
        exchange(store, state, step)
        state.step = step
        state.blocks[0].value = f"persona after step {step}"
        print("checkpoint", store.checkpoint(state, None, f"step {step}").id, flush=True)


def main() -> None:
    mode, root = sys.argv[1], sys.argv[2]
    store = open_agent(root)
    print("ready", flush=True)
    if mode == "work":
        work(store)
    elif mode == "talk":
        talk(store)
    else:
        while True:
            time.sleep(1)


if __name__ == "__main__":
    main()
