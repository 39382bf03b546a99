"""Engine cost per user turn: everything but the model's own time.

One turn = persist the user message, assemble and count the context, one HTTP round trip to a
zero-latency OpenAI-compatible fake on loopback (streamed send_message reply), run the function, persist
the step and checkpoint it. Reports the median over all turns and the drift: median of the last 100 turns
over the first 100.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes.openai_server import FakeOpenAIServer, Reply  # noqa: E402


async def measure(turns: int, home: Path) -> list[float]:
    import os

    os.environ["MEMGPT_TUI_HOME"] = str(home)
    from memgpt_tui import runtime
    from memgpt_tui.config import Settings

    with FakeOpenAIServer() as server:
        settings = Settings.load(
            backend="openai-compatible", base_url=server.base_url, model="fake-model", no_verify=True, context_window=8192
        )
        agent = await runtime.create_agent(settings, "bench")
        try:
            timings = []
            for i in range(turns):
                server.script(Reply.tool_call("send_message", {"message": f"Reply number {i}."}, content="Answer briefly."))
                start = time.perf_counter()
                await agent.send(f"Message number {i}: tell me something.")
                timings.append(time.perf_counter() - start)
        finally:
            await agent.close()
    return timings


def summarize(timings: list[float]) -> dict[str, float]:
    ms = [t * 1000 for t in timings]
    window = min(100, len(ms) // 2) or 1
    first, last = statistics.median(ms[:window]), statistics.median(ms[-window:])
    return {
        "median_ms": statistics.median(ms),
        "p95_ms": sorted(ms)[int(len(ms) * 0.95) - 1],
        "first_median_ms": first,
        "last_median_ms": last,
        "drift": last / first,
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=1000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = summarize(asyncio.run(measure(args.turns, Path(tmp))))
    print(f"{'figure':<28} {'value':>10}")
    for key, value in result.items():
        print(f"{key:<28} {value:>10.3f}")
    return result


if __name__ == "__main__":
    main()
