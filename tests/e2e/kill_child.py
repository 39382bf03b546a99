"""The app's engine in a process of its own, to be killed:
``python -m tests.e2e.kill_child BASE_URL [--no-restores]``.

It resumes (or creates) the agent "victim" (or ``$KILL_CHILD_AGENT``) and talks to it without end through the real runtime,
store and OpenAI backend, now and then restoring a recent checkpoint and undoing that restore. It
prints what it did, one line each: ``ack TEXT`` once a user message is in recall, ``restoring`` and
``undone`` around a restore and its undo.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys

from memgpt_tui import runtime
from memgpt_tui.config import Settings
from memgpt_tui.model import events as ev


def say(*words: str) -> None:
    print(*words, flush=True)


async def main(base_url: str, restores: bool) -> None:
    settings = Settings.load(
        backend="openai-compatible", base_url=base_url, model="fake-model", no_verify=True, max_retries=0
    )
    agent = await runtime.open_agent(settings, os.environ.get("KILL_CHILD_AGENT", "victim"))
    rng = random.Random()
    pending: list[str] = []
    agent.subscribe(
        lambda event: (
            say("ack", pending.pop())
            if isinstance(event, ev.StepStarted) and event.reason == "user" and pending
            else None
        )
    )
    say("ready")
    n = 0
    while True:
        n += 1
        text = f"message {rng.getrandbits(48):012x}"
        pending.append(text)
        await agent.send(text)
        if restores and n % 4 == 0:
            checkpoints = await agent.checkpoints()
            say("restoring")
            await agent.restore(rng.choice(checkpoints[-8:-1]).id)
            await agent.restore((await agent.checkpoints())[-2].id)  # the head before the restore
            say("undone")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], "--no-restores" not in sys.argv))
