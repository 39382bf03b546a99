"""What a step costs on an S3-compatible object store: moto's server on loopback, in its own process.

A step is what the engine writes (user message, reply and function result, checkpoint), as in
``store_turn``. For each step: the engine's own cost (journal and memory: the same as on disk unless
the previous step's upload is still running, which back-to-back steps here make it wait for); the time
from the checkpoint until the step is in the bucket (one PUT of its records to the shared journal);
and the writer's work to fold one step into the Lance tables on the object store (several requests
per table touched), which runs in the background off the engine's path. Loopback has no network
latency: on a real store each request adds its round trip.
"""

from __future__ import annotations

import os
import time

from memgpt_tui.store import registry

from .common import Figure, FixedEmbedder, Words, private_home, timing
from .fixtures import step_messages
from .report import standalone
from .store_turn import new_state


def measure(steps: int) -> list[Figure]:
    from tests.fakes.s3_server import LoopbackS3

    with private_home("s3"), LoopbackS3() as s3:
        saved = {key: os.environ.get(key) for key in s3.env}
        os.environ.update(s3.env)
        try:
            return _steps(s3.bucket_uri(), steps)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _steps(root: str, steps: int) -> list[Figure]:
    words = Words(seed=5)
    store = registry.create_store(root, "bench", FixedEmbedder())
    engine, committed, applied = [], [], []
    try:
        state = new_state()
        for step in range(1, steps + 1):
            messages = step_messages(step, words)
            start = time.perf_counter()
            store.append_messages(messages[:1])
            store.append_messages(messages[1:])
            state.step = step
            state.in_context_ids = (state.in_context_ids + [m.id for m in messages])[-60:]
            store.checkpoint(state, None, f"step {step}")
            checkpointed = time.perf_counter()
            engine.append(checkpointed - start)
            store.wait_committed()
            committed.append(time.perf_counter() - checkpointed)
            start = time.perf_counter()
            store.sync()
            applied.append(time.perf_counter() - start)
    finally:
        store.close()
    note = f"{steps} steps, moto on loopback"
    return [
        timing("S3: engine cost per step", engine, note=note),
        timing("S3: checkpoint to step in the bucket", committed, note="one PUT to the shared journal"),
        timing("S3: writer folds one step into the tables", applied, note="background, off the engine path"),
    ]


def run(quick: bool) -> list[Figure]:
    return measure(30 if quick else 200)


def main(argv: list[str] | None = None) -> list[Figure]:
    return standalone(__doc__, argv, measure, steps=200)


if __name__ == "__main__":
    main()
