"""Persistence per agent step over a long history, through the store as the engine uses it.

One step = append the user message, append the assistant reply and the function result, checkpoint
the state (core memory, in-context ids, counters); every tenth step also inserts an archival
passage. Steps follow the cadence of a real model, seconds apart: the user's message reaches Lance
while the model thinks, the reply and checkpoint when it is done, and the writer's upkeep round
(compaction, index refresh) runs between steps. Here the loop drives those phases itself, one after
another, so every byte written belongs to exactly one of them.

Reports what a step costs the engine (the writer's work is off its path); the bytes a checkpoint
writes (the journal and the step's own commits) around step 100 and at the end; the upkeep bytes per
step averaged over the whole history so far, since upkeep comes in rounds whose size grows with the
tier they merge (log of the history); the same two after a 100k-message history, over enough steps
for one index fold; and the time to restore checkpoints spread over the whole history (state, recall
and archival put back, the restored context read).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from memgpt_tui.model.state import AgentConfig, AgentState, Block
from memgpt_tui.store import registry
from memgpt_tui.store.agent_store import LanceAgentStore, StoreTuning

from .common import Figure, FixedEmbedder, Words, private_home, timing
from .fixtures import add_history, step_messages
from .report import standalone

WINDOW = 100  # steps averaged for bytes per checkpoint
RESTORES = 20
LARGE_STEPS = 700  # steps measured after a long history: 2,100 messages, one index fold


def written_bytes() -> int:
    """Bytes this process has passed to write calls so far, all threads."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise RuntimeError("no wchar in /proc/self/io")


def new_state() -> AgentState:
    return AgentState(
        name="bench",
        config=AgentConfig(),
        system_prompt="You are MemGPT. " * 200,
        blocks=[Block(label="persona", value="I am Sam. " * 100), Block(label="human", value="Chad. " * 50)],
    )


def run_steps(
    store: LanceAgentStore, state: AgentState, words: Words, steps: int
) -> tuple[list[float], list[int], list[int]]:
    """``steps`` steps after ``state.step``: the engine's cost of each, and the bytes written up to the
    end of each, from 0: the steps' own, and the upkeep rounds between them."""
    costs, own, upkeep = [], [0], [0]
    for step in range(state.step + 1, state.step + steps + 1):
        user, *rest = step_messages(step, words)
        before = written_bytes()
        start = time.perf_counter()
        store.append_messages([user])
        elapsed = time.perf_counter() - start
        store.sync()  # the writer moves the message to Lance while the model thinks
        start = time.perf_counter()
        store.append_messages(rest)
        if step % 10 == 0:
            store.archival_insert([words.sentence(20)])
        state.step = step
        state.in_context_ids = (state.in_context_ids + [m.id for m in (user, *rest)])[-60:]
        store.checkpoint(state, None, f"step {step}")
        costs.append(elapsed + time.perf_counter() - start)
        store.sync()
        between = written_bytes()
        store.maintain()
        own.append(own[-1] + between - before)
        upkeep.append(upkeep[-1] + written_bytes() - between)
    return costs, own, upkeep


def tuned_store(root: str, name: str) -> LanceAgentStore:
    """The loop flushes and runs upkeep itself, at the step boundaries where the writer would."""
    return registry.create_store(root, name, FixedEmbedder(), StoreTuning(flush_interval=3600))


def history(steps: int, root: str) -> list[Figure]:
    store = tuned_store(root, "bench")
    try:
        costs, own, upkeep = run_steps(store, new_state(), Words(11), steps)
        restore = restores(store)
    finally:
        store.close()
    window = min(WINDOW, steps // 3)
    around_100 = min(steps, 100 + window // 2)
    early = (own[around_100] - own[around_100 - window]) / window
    late = (own[steps] - own[steps - window]) / window
    first = min(steps, 100)
    early_upkeep, late_upkeep = upkeep[first] / first, upkeep[steps] / steps
    note = f"{steps} steps; the journal and the step's commits, averaged over {window} steps"
    return [
        timing("store cost per step (engine path)", costs, note=f"{steps} steps"),
        Figure("bytes per checkpoint, step 100", early / 1024, "KiB", note=note),
        Figure(f"bytes per checkpoint, step {steps}", late / 1024, "KiB"),
        Figure(f"bytes per checkpoint, step {steps} / step 100", late / early, "x", None, 1.1),
        Figure(
            f"upkeep bytes per step, steps 1-{first}",
            early_upkeep / 1024,
            "KiB",
            note="compaction and index refresh, averaged over the history so far",
        ),
        Figure(f"upkeep bytes per step, steps 1-{steps}", late_upkeep / 1024, "KiB"),
        Figure(
            f"all bytes per step, step {steps} / step 100",
            (late + late_upkeep) / (early + early_upkeep),
            "x",
            note="the checkpoint's own bytes plus upkeep as averaged above; upkeep grows with log n",
        ),
        timing(
            f"restore, any of {steps} checkpoints",
            restore,
            200.0,
            judge="p95",
            note=f"{len(restore)} checkpoints spread over the history, restored in random order",
        ),
    ]


def at_scale(messages: int, steps: int, root: str) -> list[Figure]:
    """Steps after a long history: ``steps`` is long enough for one index fold."""
    store = tuned_store(root, "large")
    try:
        words = Words(12)
        add_history(store, messages, words)
        store.maintain()
        state = new_state()
        state.step = messages // 3
        _, own, upkeep = run_steps(store, state, words, steps)
    finally:
        store.close()
    note = f"{steps} steps after {messages:,} messages, with one index fold"
    after = f"{messages // 1000}k-message history"
    return [
        Figure(f"bytes per checkpoint, {after}", own[-1] / steps / 1024, "KiB", note=note),
        Figure(f"upkeep bytes per step, {after}", upkeep[-1] / steps / 1024, "KiB"),
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


def alone(steps: int, messages: int) -> list[Figure]:
    with private_home("store") as home:
        return history(steps, str(home / "agents")) + at_scale(messages, LARGE_STEPS, str(home / "agents"))


def run(quick: bool) -> list[Figure]:
    return alone(300 if quick else 1000, 100_000)


def main(argv: list[str] | None = None) -> list[Figure]:
    return standalone(__doc__, argv, alone, steps=1000, messages=100_000)


if __name__ == "__main__":
    main()
