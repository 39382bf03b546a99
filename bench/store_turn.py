"""Persistence cost per agent step, as the engine pays it, over 1,000 steps.

One step = append the user message, append the assistant reply and the function result, checkpoint
the state (core memory, in-context ids, counters). Every tenth step also inserts an archival passage.
Between steps the benchmark sleeps ``--pace-ms`` (the rest of an engine turn), so the background
writer moves the journal into Lance and compacts while steps keep coming, as in real use.
Prints per-step cost (median, p95, first 100 vs last 100), what one plain LanceDB ``table.add`` of a
single row costs on this machine for comparison, and what the background writer did meanwhile.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lancedb  # noqa: E402
import pyarrow as pa  # noqa: E402

from memgpt_tui.engine.messages import Message, ToolCall, user_message  # noqa: E402
from memgpt_tui.engine.state import AgentConfig, AgentState, Block  # noqa: E402
from memgpt_tui.store import registry  # noqa: E402


class HashEmbedder:
    """Deterministic vectors: the benchmark measures storage, not the embedding model."""

    model = "bench-hash"
    dim = 384

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        seed = hashlib.sha256(text.encode()).digest()
        return [b / 255.0 for b in (seed * 12)[: self.dim]]


def step_messages(step: int) -> list[list[Message]]:
    call = ToolCall(
        id=f"call_{step}", name="send_message", arguments=json.dumps({"message": f"Reply {step}."})
    )
    reply = Message(
        role="assistant", kind="assistant", content=f"Thinking about {step}.", tool_calls=(call,), step=step
    )
    result = Message(
        role="tool",
        kind="tool_result",
        content=json.dumps({"status": "OK", "message": None, "time": "now"}),
        tool_call_id=call.id,
        name="send_message",
        step=step,
    )
    return [[user_message(f"Message number {step}: tell me something.", step)], [reply, result]]


def measure(steps: int, root: str, pace: float) -> tuple[list[float], dict[str, dict[str, int]]]:
    store = registry.create_store(root, "bench", HashEmbedder())
    state = AgentState(
        name="bench",
        config=AgentConfig(),
        system_prompt="You are MemGPT. " * 200,
        blocks=[Block(label="persona", value="I am Sam. " * 100), Block(label="human", value="Chad. " * 50)],
    )
    timings = []
    try:
        for step in range(1, steps + 1):
            user, rest = step_messages(step)
            start = time.perf_counter()
            store.append_messages(user)
            store.append_messages(rest)
            if step % 10 == 0:
                store.archival_insert([f"Fact number {step} about the user."])
            state.step = step
            state.in_context_ids = (state.in_context_ids + [m.id for m in user + rest])[-60:]
            store.checkpoint(state, None, f"step {step}")
            timings.append(time.perf_counter() - start)
            time.sleep(pace)
        store.sync()
        tables = store.storage_stats()
    finally:
        store.close()
    return timings, tables


def lance_add_cost(root: str, rows: int = 200) -> list[float]:
    table = lancedb.connect(root).create_table(
        "plain", schema=pa.schema([("id", pa.string()), ("text", pa.string())])
    )
    timings = []
    for i in range(rows):
        start = time.perf_counter()
        table.add(pa.table({"id": [str(i)], "text": ["hello world " * 20]}))
        timings.append(time.perf_counter() - start)
    return timings


def summarize(timings: list[float]) -> dict[str, float]:
    ms = sorted(t * 1000 for t in timings)
    window = min(100, len(timings) // 2) or 1
    first = statistics.median(timings[:window]) * 1000
    last = statistics.median(timings[-window:]) * 1000
    return {
        "median_ms": statistics.median(ms),
        "p95_ms": ms[max(0, int(len(ms) * 0.95) - 1)],
        "first100_median_ms": first,
        "last100_median_ms": last,
        "drift": last / first,
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--pace-ms", type=float, default=4.0, help="idle time between steps")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        timings, tables = measure(args.steps, str(Path(tmp) / "agents"), args.pace_ms / 1000)
        plain = summarize(lance_add_cost(str(Path(tmp) / "plain")))
    result = summarize(timings)
    print(f"{'store, per step (' + str(args.steps) + ' steps)':<40} {'value':>10}")
    for key, value in result.items():
        print(f"  {key:<38} {value:>10.3f}")
    print(f"{'plain lancedb table.add, one row':<40}")
    for key in ("median_ms", "p95_ms", "drift"):
        print(f"  {key:<38} {plain[key]:>10.3f}")
    print(f"{'tables after the run':<22} {'rows':>8} {'fragments':>10} {'versions':>9}")
    for name, figures in tables.items():
        print(f"  {name:<20} {figures['rows']:>8} {figures['fragments']:>10} {figures['versions']:>9}")
    return result


if __name__ == "__main__":
    main()
