"""Engine cost per user turn: everything but the model's own time.

One turn = persist the user message, assemble and count the context, one HTTP round trip to a
zero-latency OpenAI-compatible fake on loopback (streamed send_message reply), run the function,
persist the step and checkpoint it. The fake runs in a process of its own, as a real server does, so
its work does not compete with the engine for the GIL. The context window is 8,192 tokens, so long
runs include evictions and summaries as real ones do. Reports the median over all turns and the
drift: median of the last 100 turns over the first 100 (``--long``: 10,000 turns, the last 1,000
over the first 1,000), on an agent opened again after it was made, as a long-lived one is.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from memgpt_tui import runtime
from memgpt_tui.config import Settings

from .common import Figure, private_home, timing
from .fake_server import separate_fake_server
from .report import standalone

DRIFT_WINDOW = 100
LONG_TURNS, LONG_WINDOW = 10_000, 1000


async def measure(turns: int) -> list[float]:
    with separate_fake_server() as base_url:
        settings = Settings.load(
            backend="openai-compatible",
            base_url=base_url,
            model="fake-model",
            no_verify=True,
            context_window=8192,
        )
        # Opened again, as a long-lived agent is: its tables are there from the first turn, so the first
        # turns and the last do the same work (a new agent's first session writes no tables).
        await (await runtime.create_agent(settings, "bench")).close()
        agent = await runtime.open_agent(settings, "bench")
        try:
            seconds = []
            for i in range(turns):
                start = time.perf_counter()
                await agent.send(f"Message number {i}: tell me something.")
                seconds.append(time.perf_counter() - start)
        finally:
            await agent.close()
    return seconds


def figures(seconds: list[float], drift_window: int = DRIFT_WINDOW) -> list[Figure]:
    window = min(drift_window, len(seconds) // 2) or 1
    first, last = statistics.median(seconds[:window]), statistics.median(seconds[-window:])
    note = f"{len(seconds)} turns; first {window}: {first * 1000:.2f} ms, last {window}: {last * 1000:.2f} ms"
    return [
        timing("engine cost per user turn", seconds, 4.5, note=note),
        Figure(f"engine drift, last/first {window} turns", last / first, "x", None, 1.1),
    ]


def alone(turns: int, drift_window: int = DRIFT_WINDOW) -> list[Figure]:
    with private_home("engine"):
        return figures(asyncio.run(measure(turns)), drift_window)


def run(quick: bool, long: bool = False) -> list[Figure]:
    if long:
        return alone(LONG_TURNS, LONG_WINDOW)
    return alone(300 if quick else 1000)


def main(argv: list[str] | None = None) -> list[Figure]:
    return standalone(__doc__, argv, alone, turns=1000, drift_window=DRIFT_WINDOW)


if __name__ == "__main__":
    main()
