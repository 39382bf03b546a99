"""A memgpt-tui on another machine, for the object-store tests: ``python -m tests.store.s3_child ROOT``.

It opens (or creates) agent ``ada`` under the ``s3://`` root with a two-second lease and a writer that
never applies the journal by itself, runs one complete step (printing ``checkpoint <id>``), journals the
human's next message (a step in flight), prints ``ready`` and waits to be killed. What it leaves behind
is what the shared journal kept.
"""

from __future__ import annotations

import sys
import time

from memgpt_tui.model.messages import user_message
from memgpt_tui.store import registry
from memgpt_tui.store.agent_store import StoreTuning
from tests.store.helpers import HashEmbedder, make_state, turn

LEASE = StoreTuning(flush_interval=3600, flush_records=1_000_000, lease_seconds=2.0)


def main(root: str) -> None:
    if registry.exists(root, "ada"):
        store = registry.open_store(root, "ada", HashEmbedder(), LEASE)
    else:
        store = registry.create_store(root, "ada", HashEmbedder(), LEASE)
    state = store.head() or make_state("ada")
    turn(store, state, "the committed question", "the committed answer", label="committed")
    print("checkpoint", store.checkpoints()[-1].id, flush=True)
    store.append_messages([user_message("the question in flight", state.step + 1)])
    print("ready", flush=True)
    time.sleep(3600)


if __name__ == "__main__":
    main(sys.argv[1])
