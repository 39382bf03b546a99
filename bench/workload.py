"""The Client workload of the footprint bench, and the fresh processes that run it.

Standard library only at import, so the figures of a run hold nothing of the bench's own: the peer's
Python imports it too (``bench/peer_client.py``). ``python -m bench.workload --child BASE_URL HOME
TURNS`` drives the Client through the workload; ``--idle BASE_URL HOME create|open`` makes agents,
or opens them and reads the resident memory at each count. Each prints one JSON line.
"""

import json
import sys
import time
from typing import Any

MEMORY_EVERY = 10
MARKER = "Please remember"  # a user message with it gets a core-memory edit from the fake model
IDLE = (1, 10, 50)  # open idle agents in one process


def workload_text(turn: int) -> str:
    if turn % MEMORY_EVERY == MEMORY_EVERY - 1:
        return f"{MARKER}: my favourite number is {turn}."
    return f"Message number {turn}: tell me something."


def peak_rss_mb(field: str = "VmHWM") -> float:
    """This process's peak resident memory (``VmHWM``), or now (``VmRSS``), or its private part now
    (``RssAnon``: no pages of shared libraries or files), in MB. Not ``ru_maxrss``:
    Linux carries a parent's high-water mark into a child across fork and exec, so a child of a big
    process would report its parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _client(base_url: str, home: str) -> Any:
    from memgpt_tui.client import Client

    return Client(home=home, backend="openai-compatible", base_url=base_url, model="fake-model",
                  no_verify=True, context_window=8192)  # fmt: skip


def idle_child(base_url: str, home: str, mode: str, counts: list[int]) -> dict[str, float]:
    """``create``: make ``max(counts)`` agents. ``open``: open them one by one in this fresh process,
    each read once (its core memory) and left idle: the resident memory at each of ``counts``."""
    client = _client(base_url, home)
    rss: dict[str, float] = {}
    for n in range(1, max(counts) + 1):
        if mode == "create":
            client.create_agent(f"idle{n}")
        else:
            client.get_core_memory(f"idle{n}")
            if n in counts:
                rss[str(n)] = peak_rss_mb("VmRSS")
    client.close()
    return rss


def child(base_url: str, home: str, turns: int) -> dict[str, Any]:
    """One run, in this process (which must be fresh): the figures as a dict."""
    began = time.perf_counter()
    client = _client(base_url, home)
    called, cpu = time.perf_counter(), time.process_time()
    client.create_agent("bench")
    created, cpu_created = time.perf_counter(), time.process_time()
    client.create_agent("bench-again")  # with everything loaded
    again, cpu_turns_began = time.perf_counter() - created, time.process_time()
    seconds = []
    edits = 0
    for turn in range(turns):
        start = time.perf_counter()
        replies = client.user_message("bench", workload_text(turn))
        seconds.append(time.perf_counter() - start)
        edits += any(r.get("function_call") == "core_memory_append" for r in replies)
    cpu_turns = (time.process_time() - cpu_turns_began) / turns
    client.close()
    return {
        "process": created - began,
        "create": created - called,
        "create_cpu": cpu_created - cpu,
        "create_again": again,
        "turn_cpu": cpu_turns,
        "turns": seconds,
        "edits": edits,
        "peak_mb": peak_rss_mb(),
        "private_mb": peak_rss_mb("RssAnon"),
    }


if __name__ == "__main__":
    if sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
    else:
        base_url, home, mode, counts = sys.argv[2:6]
        print(json.dumps(idle_child(base_url, home, mode, [int(n) for n in counts.split(",")])))
