"""The table every run prints, and the JSON record it leaves in ``bench/results/``."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from .common import REPO, Figure

RESULTS = REPO / "bench" / "results"


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


def format_table(figures: Sequence[Figure]) -> str:
    rows = [("figure", "median", "p95", "unit", "target", "result")]
    rows += [(f.name, _number(f.median), _number(f.p95), f.unit, f.target_text, f.verdict) for f in figures]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:4], widths[1:4], strict=True)]
        cells += [row[4].ljust(widths[4]), row[5]]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  {f.name}: {f.note}" for f in figures if f.note]
    return "\n".join(lines + (["", "notes:", *notes] if notes else []))


def print_table(figures: Sequence[Figure]) -> None:
    print(format_table(figures), flush=True)


def standalone(
    doc: str | None, argv: list[str] | None, scenario: Callable[..., list[Figure]], **sizes: Any
) -> list[Figure]:
    """Run one benchmark module on its own: a ``--name`` option per size (typed like its default, a
    list taking several values, a flag for a boolean), then the table."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in sizes.items():
        if isinstance(default, bool):
            parser.add_argument(f"--{name}", action="store_true")
            continue
        several = isinstance(default, list)
        kind = type(default[0] if several else default)
        parser.add_argument(f"--{name}", type=kind, nargs="+" if several else None, default=default)
    figures = scenario(**vars(parser.parse_args(argv)))
    print_table(figures)
    return figures


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip() + ("-dirty" if dirty else "")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, object]:
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_json(
    figures: Sequence[Figure], mode: str, seconds: float, errors: dict[str, str], load: float
) -> Path:
    stamp = datetime.now().astimezone()
    commit = git_commit()
    record = {
        "date": stamp.isoformat(timespec="seconds"),
        "commit": commit,
        "mode": mode,
        "wall_seconds": round(seconds, 1),
        "machine": {**machine(), "load_average_at_start": round(load, 2)},
        "figures": [f.as_dict() for f in figures],
        "errors": errors,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{stamp:%Y-%m-%dT%H%M%S}-{commit}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path
