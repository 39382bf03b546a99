"""Cold start and memory of the real ``memgpt-tui`` console script, in a pseudo-terminal.

The agent has ``--messages`` recall messages and ``--passages`` archival passages; its backend is an
OpenAI-compatible fake on loopback, so no model loads. Each run launches ``memgpt-tui --agent bench``
at 120x40 and times, from just before the process is spawned:
  first paint  the loading view's title is on screen;
  ready        the main screen shows the input and the agent's last reply from its history.
Then, with the agent open and idle, the process's resident memory (VmRSS, children excluded).
The page cache is warm (the agent was just written), as when someone starts the app again.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

from tests.fakes.openai_server import FakeOpenAIServer

from .common import Figure, percentile, private_home
from .fixtures import LAST_REPLY, build_agent, settings_for
from .report import standalone
from .terminal import Terminal

PAINTED = "memgpt-tui"
INPUT_READY = "or / for commands"  # the input's placeholder (its first letter sits under the cursor)
SETTLE = 2.0  # seconds idle before reading RSS


def console_script() -> str:
    return str(Path(sys.executable).with_name("memgpt-tui"))


def launch(home: Path) -> tuple[float, float, int]:
    """One start: seconds to first paint, seconds to ready, RSS in bytes once idle."""
    env = {**os.environ, "MEMGPT_TUI_HOME": str(home)}
    with Terminal([console_script(), "--agent", "bench"], env) as term:
        painted = term.wait_for(PAINTED)
        ready = max(term.wait_for(INPUT_READY), term.wait_for(LAST_REPLY))
        time.sleep(SETTLE)
        rss = term.rss_bytes()
        return painted - term.started, ready - term.started, rss


def measure(messages: int, passages: int, runs: int) -> list[Figure]:
    with private_home("startup") as home, FakeOpenAIServer() as server:
        build_agent(settings_for(server), "bench", messages=messages, passages=passages)
        launch(home)  # the first start compiles bytecode and fills caches: not what a user meets
        results = [launch(home) for _ in range(runs)]
    paint, ready, rss = ([r[i] for r in results] for i in range(3))
    size = f"{messages:,} messages + {passages:,} passages, {runs} runs"
    return [
        Figure(
            "cold start: first paint", statistics.median(paint), "s", percentile(paint, 95), 0.35, note=size
        ),
        Figure(
            "cold start: ready for input",
            statistics.median(ready),
            "s",
            percentile(ready, 95),
            1.0,
            note=size,
        ),
        Figure(
            "RSS, agent open", statistics.median(rss) / 2**20, "MB", None, 300, note=f"{messages:,} messages"
        ),
    ]


def run(quick: bool) -> list[Figure]:
    return measure(10_000, 20_000, 3) if quick else measure(10_000, 100_000, 7)


def main(argv: list[str] | None = None) -> list[Figure]:
    return standalone(__doc__, argv, measure, messages=10_000, passages=100_000, runs=7)


if __name__ == "__main__":
    main()
