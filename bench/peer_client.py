"""The footprint workload through the original MemGPT's Python client (pymemgpt 0.3.25).

Run by the peer's own Python (``MEMGPT_PEER_PYTHON``) in a fresh process, with ``HOME`` a temporary
directory holding its config (``bench.peer_server.write_config``, which names the fake's URL):
``python -m bench.peer_client TURNS`` prints the same figures as ``bench.footprint``'s child, as one JSON line.
Standard library and ``memgpt`` only.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from bench.workload import peak_rss_mb, workload_text


def edited(messages: list[dict[str, Any]]) -> bool:
    """Whether a turn's records hold a core-memory edit that succeeded."""
    called = any(str(m.get("function_call", "")).startswith("core_memory_append") for m in messages)
    return called and not any(m.get("status") == "error" for m in messages)


def child(turns: int) -> dict[str, Any]:
    began = time.perf_counter()
    from memgpt import create_client

    client = create_client()
    called, cpu = time.perf_counter(), time.process_time()
    agent = client.create_agent(name="bench")
    created, cpu_created = time.perf_counter(), time.process_time()
    client.create_agent(name="bench-again")  # with everything loaded
    again, cpu_turns_began = time.perf_counter() - created, time.process_time()
    seconds = []
    edits = 0
    for turn in range(turns):
        start = time.perf_counter()
        response = client.user_message(agent.id, workload_text(turn))
        seconds.append(time.perf_counter() - start)
        edits += edited(response.messages)
    return {
        "process": created - began,
        "create": created - called,
        "create_cpu": cpu_created - cpu,
        "create_again": again,
        "turn_cpu": (time.process_time() - cpu_turns_began) / turns,
        "turns": seconds,
        "edits": edits,
        "peak_mb": peak_rss_mb(),
        "private_mb": peak_rss_mb("RssAnon"),
    }


if __name__ == "__main__":
    print(json.dumps(child(int(sys.argv[1]))))
