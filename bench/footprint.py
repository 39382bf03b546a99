"""Footprint of the Python Client next to the original MemGPT's: per turn, peak memory, creating an agent.

A fresh Python process imports the Client, creates an agent (``Client.create_agent`` timed alone, and
from before the import) and drives ``--turns`` turns through ``Client.user_message``
against the OpenAI-compatible fake in a process of its own; every tenth turn the model edits core memory
(``core_memory_append``, then ``send_message`` on the heartbeat). The process's peak resident memory
(``VmHWM``) is read at the end; CPU times (all threads of the process) sit next to the wall times,
as they hold still on a busy machine. Each run is a new process, so nothing is warm but the page cache.

When ``MEMGPT_PEER_PYTHON`` names a Python with pymemgpt 0.3.25, each run is followed by the same
workload through the original MemGPT's ``LocalClient`` (``bench/peer_client.py``) on the same fake, and
the ratios of the medians are judged; without it the run says why the peer was skipped and judges nothing.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import REPO, Figure, percentile
from .fake_server import separate_fake_server
from .peer_server import peer_env, peer_python, write_config
from .report import standalone
from .workload import IDLE, MARKER

PEER = "original MemGPT 0.3.25"
# ratio of ours to the peer's, at most
TARGETS = {"turn": 0.25, "peak_mb": 0.6, "create": 0.5}
IDLE_AGENT_MB = 15.0


def idle_figures(base_url: str, counts: Sequence[int]) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="memgpt-bench-footprint-idle-") as home:
        for mode in ("create", "open"):
            numbers = ",".join(map(str, counts))
            command = [sys.executable, "-m", "bench.workload", "--idle", base_url, home, mode, numbers]
            rss = _last_json(command, cwd=REPO)
    figures = [Figure(f"RSS with {n} open idle agents", rss[str(n)], "MB",
                      note="one process, each agent opened and read once") for n in counts]  # fmt: skip
    least, most = min(counts), max(counts)
    if most == least:  # one count: no difference to take
        return figures
    per_agent = (rss[str(most)] - rss[str(least)]) / (most - least)
    return [*figures, Figure("RSS per open idle agent", per_agent, "MB", target=IDLE_AGENT_MB,
                             note=f"(RSS at {most} - RSS at {least}) / {most - least}")]  # fmt: skip


def _last_json(command: list[str], **popen: Any) -> dict[str, Any]:
    out = subprocess.run(command, capture_output=True, text=True, check=True, **popen)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def one_run(base_url: str, turns: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="memgpt-bench-footprint-") as home:
        command = [sys.executable, "-m", "bench.workload", "--child", base_url, home, str(turns)]
        return _last_json(command, cwd=REPO)


def peer_run(python: str, base_url: str, turns: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="memgpt-bench-footprint-peer-") as tmp:
        home = Path(tmp)
        write_config(home, base_url)
        return _last_json([python, "-m", "bench.peer_client", str(turns)], cwd=REPO, env=peer_env(home))


def summary(results: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Per run: the median turn (ms) and the other figures, as lists over the runs."""
    per_run = {
        key: [float(r[key]) for r in results]
        for key in ("peak_mb", "private_mb", "create", "create_again", "process", "create_cpu")
    }
    per_run["turn"] = [statistics.median(r["turns"]) * 1000 for r in results]
    per_run["turn_cpu"] = [r["turn_cpu"] * 1000 for r in results]
    return per_run


def own_figures(ours: dict[str, list[float]], turns: int, runs: int, edits: int) -> list[Figure]:
    note = f"{turns} turns ({edits} core-memory edits) through the Client, {runs} fresh processes"
    return [
        Figure(f"Client peak RSS, {turns} turns", statistics.median(ours["peak_mb"]), "MB",
               max(ours["peak_mb"]), note=note),
        Figure("Client private memory at the end (RssAnon)", statistics.median(ours["private_mb"]), "MB",
               max(ours["private_mb"]), note="resident memory less the pages of shared libraries and files"),
        Figure("create an agent: Client.create_agent", statistics.median(ours["create"]), "s",
               percentile(ours["create"], 95), note=f"{runs} fresh processes"),
        Figure("create a second agent, everything loaded", statistics.median(ours["create_again"]), "s",
               max(ours["create_again"])),
        Figure("create an agent: import, Client() and create_agent", statistics.median(ours["process"]), "s",
               percentile(ours["process"], 95), note="what a script that only creates an agent waits for"),
        Figure("create an agent: CPU time of Client.create_agent", statistics.median(ours["create_cpu"]), "s",
               max(ours["create_cpu"]), note="all threads; steadier than wall time on a busy machine"),
        Figure("Client turn, median of each run", statistics.median(ours["turn"]), "ms", max(ours["turn"]),
               note="includes the fake server's reply"),
        Figure("Client turn, CPU time", statistics.median(ours["turn_cpu"]), "ms", max(ours["turn_cpu"]),
               note="this process's CPU per turn, all threads (the fake server runs apart)"),
    ]  # fmt: skip


def peer_figures(ours: dict[str, list[float]], peer: dict[str, list[float]], edits: int) -> list[Figure]:
    def ratio(key: str) -> float:
        return statistics.median(ours[key]) / statistics.median(peer[key])

    return [
        Figure(f"{PEER}: peak RSS", statistics.median(peer["peak_mb"]), "MB", max(peer["peak_mb"]),
               note=f"its LocalClient, the same workload ({edits} core-memory edits)"),
        Figure(f"{PEER}: private memory at the end (RssAnon)", statistics.median(peer["private_mb"]), "MB",
               max(peer["private_mb"])),
        Figure(f"{PEER}: create_agent", statistics.median(peer["create"]), "s", max(peer["create"])),
        Figure(f"{PEER}: a second create_agent", statistics.median(peer["create_again"]), "s",
               max(peer["create_again"])),
        Figure(f"{PEER}: turn, median of each run", statistics.median(peer["turn"]), "ms", max(peer["turn"])),
        Figure(f"{PEER}: turn, CPU time", statistics.median(peer["turn_cpu"]), "ms", max(peer["turn_cpu"])),
        Figure("Client turn / the peer's", ratio("turn"), "x", target=TARGETS["turn"]),
        Figure("Client turn CPU / the peer's", ratio("turn_cpu"), "x", target=TARGETS["turn"],
               note="the steadier of the two on a busy machine, where the peer's wall time waits most"),
        Figure("Client peak RSS / the peer's", ratio("peak_mb"), "x", target=TARGETS["peak_mb"]),
        Figure("Client private memory / the peer's", ratio("private_mb"), "x", note="reported only"),
        Figure("create_agent / the peer's", ratio("create"), "x", target=TARGETS["create"]),
        Figure("create_agent CPU / the peer's", ratio("create_cpu"), "x", note="reported only"),
        Figure("a second create_agent / the peer's", ratio("create_again"), "x", note="reported only"),
        Figure("import, client and create_agent / the peer's", ratio("process"), "x",
               note="the peer imports everything before its client exists; the Client, on first use"),
    ]  # fmt: skip


def measure(turns: int, runs: int, idle: Sequence[int] = IDLE) -> list[Figure]:
    python, why = peer_python()
    if python is None:
        print(f"[footprint] {PEER} not measured, nothing judged: {why}", file=sys.stderr)
    ours, peer = [], []
    with separate_fake_server(memory_marker=MARKER) as base_url:
        for _ in range(runs):  # alternating, so a busy spell falls on both
            ours.append(one_run(base_url, turns))
            if python is not None:
                peer.append(peer_run(python, base_url, turns))
        idle_agents = idle_figures(base_url, idle) if idle else []
    figures = own_figures(summary(ours), turns, runs, ours[0]["edits"])
    if peer:
        figures += peer_figures(summary(ours), summary(peer), peer[0]["edits"])
    return figures + idle_agents


def run(quick: bool) -> list[Figure]:
    return measure(100, 2) if quick else measure(500, 3)


def main(argv: list[str] | None = None) -> list[Figure]:
    return standalone(__doc__, argv, measure, turns=500, runs=3, idle=list(IDLE))


if __name__ == "__main__":
    main()
