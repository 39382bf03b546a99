"""Footprint of the Python Client: peak memory over a long conversation, and the time to create an agent.

A fresh Python process imports the Client, creates an agent (``Client.create_agent`` timed alone, and
from before the import) and drives ``--turns`` turns through ``Client.user_message``
against the OpenAI-compatible fake in a process of its own; every tenth turn the model edits core memory
(``core_memory_append``, then ``send_message`` on the heartbeat). The process's peak resident memory
(``ru_maxrss``) is read at the end; CPU times (all threads of the process) sit next to the wall times,
as they hold still on a busy machine. Each run is a new process, so nothing is warm but the page cache.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from .common import REPO, Figure, percentile
from .fake_server import separate_fake_server
from .report import standalone

MEMORY_EVERY = 10
MARKER = "Please remember"  # a user message with it gets a core-memory edit from the fake model
PEER_RSS_MB = 295.0  # the original MemGPT CLI's Client on the same workload
PEER_CREATE_S = 1.9


def workload_text(turn: int) -> str:
    if turn % MEMORY_EVERY == MEMORY_EVERY - 1:
        return f"{MARKER}: my favourite number is {turn}."
    return f"Message number {turn}: tell me something."


def child(base_url: str, home: str, turns: int) -> dict[str, Any]:
    """One run, in this process (which must be fresh): the figures as a dict."""
    began = time.perf_counter()
    from memgpt_tui.client import Client

    client = Client(
        home=home,
        backend="openai-compatible",
        base_url=base_url,
        model="fake-model",
        no_verify=True,
        context_window=8192,
    )
    called, cpu = time.perf_counter(), time.process_time()
    client.create_agent("bench")
    created, cpu_created = time.perf_counter(), time.process_time()
    seconds = []
    edits = 0
    for turn in range(turns):
        start = time.perf_counter()
        replies = client.user_message("bench", workload_text(turn))
        seconds.append(time.perf_counter() - start)
        edits += any(r.get("function_call") == "core_memory_append" for r in replies)
    cpu_turns = (time.process_time() - cpu_created) / turns
    client.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {
        "process": created - began,
        "create": created - called,
        "create_cpu": cpu_created - cpu,
        "turn_cpu": cpu_turns,
        "turns": seconds,
        "edits": edits,
        "peak_mb": peak,
    }


def one_run(base_url: str, turns: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="memgpt-bench-footprint-") as home:
        out = subprocess.run(
            [sys.executable, "-m", "bench.footprint", "--child", base_url, home, str(turns)],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def measure(turns: int, runs: int) -> list[Figure]:
    with separate_fake_server(memory_marker=MARKER) as base_url:
        results = [one_run(base_url, turns) for _ in range(runs)]
    peak = [r["peak_mb"] for r in results]
    create = [r["create"] for r in results]
    process = [r["process"] for r in results]
    create_cpu = [r["create_cpu"] for r in results]
    turn_cpu = [r["turn_cpu"] * 1000 for r in results]
    per_turn = [statistics.median(r["turns"]) * 1000 for r in results]
    edits = results[0]["edits"]
    note = f"{turns} turns ({edits} core-memory edits) through the Client, {runs} fresh processes"
    return [
        Figure(f"Client peak RSS, {turns} turns", statistics.median(peak), "MB", max(peak),
               round(PEER_RSS_MB * 0.8), note=note),
        Figure("create an agent: Client.create_agent", statistics.median(create), "s",
               percentile(create, 95), PEER_CREATE_S, note=f"{runs} fresh processes"),
        Figure("create an agent: import, Client() and create_agent", statistics.median(process), "s",
               percentile(process, 95), note="what a script that only creates an agent waits for"),
        Figure("create an agent: CPU time of Client.create_agent", statistics.median(create_cpu), "s",
               max(create_cpu), note="all threads; steadier than wall time on a busy machine"),
        Figure("Client turn, median of each run", statistics.median(per_turn), "ms", max(per_turn),
               note="includes the fake server's reply; reported only"),
        Figure("Client turn, CPU time", statistics.median(turn_cpu), "ms", max(turn_cpu),
               note="this process's CPU per turn, all threads (the fake server runs apart)"),
    ]  # fmt: skip


def run(quick: bool) -> list[Figure]:
    return measure(100, 2) if quick else measure(500, 3)


def main(argv: list[str] | None = None) -> list[Figure]:
    return standalone(__doc__, argv, measure, turns=500, runs=3)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
    else:
        main()
