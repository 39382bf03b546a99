"""Persistence per agent step over a long history, through the store as the engine uses it.

One step = append the user message, append the assistant reply and the function result, checkpoint
the state (core memory, in-context ids, counters); every tenth step also inserts an archival
passage. Each step is then committed to Lance on its own, as the background writer does when steps
are seconds apart (a real model), so compaction and index upkeep run at their real cadence.

Reports what a step costs the engine (the writer's work is off its path), the bytes the process
writes per checkpoint (every write syscall, the writer's included) around step 100 and at the end,
and the time to restore checkpoints spread over the whole history (state, recall and archival put
back, the restored context read).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from memgpt_tui.engine.state import AgentConfig, AgentState, Block
from memgpt_tui.store import registry
from memgpt_tui.store.agent_store import LanceAgentStore

from .common import Figure, FixedEmbedder, Words, private_home, timing
from .fixtures import step_messages
from .report import standalone

WINDOW = 100  # steps averaged for bytes per checkpoint
RESTORES = 20


def written_bytes() -> int:
    """Bytes this process has passed to write calls so far, all threads."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise RuntimeError("no wchar in /proc/self/io")


def history(steps: int, root: str) -> list[Figure]:
    store = registry.create_store(root, "bench", FixedEmbedder())
    words = Words(11)
    state = AgentState(
        name="bench",
        config=AgentConfig(),
        system_prompt="You are MemGPT. " * 200,
        blocks=[Block(label="persona", value="I am Sam. " * 100), Block(label="human", value="Chad. " * 50)],
    )
    costs, written = [], [written_bytes()]
    try:
        for step in range(1, steps + 1):
            user, *rest = step_messages(step, words)
            start = time.perf_counter()
            store.append_messages([user])
            store.append_messages(rest)
            if step % 10 == 0:
                store.archival_insert([words.sentence(20)])
            state.step = step
            state.in_context_ids = (state.in_context_ids + [m.id for m in (user, *rest)])[-60:]
            store.checkpoint(state, None, f"step {step}")
            costs.append(time.perf_counter() - start)
            store.sync()
            written.append(written_bytes())
        time.sleep(1.0)  # the writer's last round of upkeep belongs to the last window
        written[-1] = written_bytes()
        restore = restores(store)
    finally:
        store.close()
    window = min(WINDOW, steps // 3)
    around_100 = min(steps, 100 + window // 2)
    early = (written[around_100] - written[around_100 - window]) / window
    late = (written[steps] - written[steps - window]) / window
    note = f"{steps} steps; bytes per step averaged over {window} steps"
    return [
        timing("store cost per step (engine path)", costs, note=f"{steps} steps"),
        Figure("bytes per checkpoint, step 100", early / 1024, "KiB", note=note),
        Figure(f"bytes per checkpoint, step {steps}", late / 1024, "KiB"),
        Figure(f"bytes per checkpoint, step {steps} / step 100", late / early, "x", None, 1.1),
        timing(
            f"restore, any of {steps} checkpoints",
            restore,
            200.0,
            judge="p95",
            note=f"{len(restore)} checkpoints spread over the history, restored in random order",
        ),
    ]


def restores(store: LanceAgentStore) -> list[float]:
    checkpoints = store.checkpoints()
    picks = np.linspace(0, len(checkpoints) - 1, RESTORES).round().astype(int)
    np.random.default_rng(5).shuffle(picks)
    seconds = []
    for index in picks:
        start = time.perf_counter()
        state, _ = store.restore(checkpoints[index].id)
        store.get_messages(state.in_context_ids)
        seconds.append(time.perf_counter() - start)
    return seconds


def alone(steps: int) -> list[Figure]:
    with private_home("store") as home:
        return history(steps, str(home / "agents"))


def run(quick: bool) -> list[Figure]:
    return alone(300 if quick else 1000)


def main(argv: list[str] | None = None) -> list[Figure]:
    return standalone(__doc__, argv, alone, steps=1000)


if __name__ == "__main__":
    main()
