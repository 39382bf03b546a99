"""Import time of a MemGPT CLI home: the test fixture as it is, and scaled to N recall messages.

    .venv/bin/python -m bench.import_home [--messages 10000]

The scaled home repeats the fixture agent's conversation (new ids, later times) in its sqlite.db until
recall holds N messages, and keeps the newest 80 in the agent's window, as a long-running MemGPT agent
would have. Each import runs the real command (``memgpt-tui import``) in a fresh process and temp home,
with the default embedder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "memgpt-0.3.25-home.tar.xz"
AGENT = "ada_companion"
WINDOW = 80


def unpack(where: Path) -> Path:
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(where, filter="data")
    return where / ".memgpt"


def scale(home: Path, messages: int) -> int:
    """Grow the agent's recall to ``messages`` rows; returns the count."""
    with closing(sqlite3.connect(home / "sqlite.db")) as con:
        con.row_factory = sqlite3.Row
        agent = con.execute("SELECT id, state FROM agents WHERE name = ?", (AGENT,)).fetchone()
        rows = [
            dict(r)
            for r in con.execute(
                "SELECT * FROM memgpt_recall_memory_agent WHERE agent_id = ? AND role != 'system' ORDER BY created_at",
                (agent["id"],),
            )
        ]
        system = con.execute(
            "SELECT id FROM memgpt_recall_memory_agent WHERE agent_id = ? AND role = 'system' ORDER BY created_at DESC",
            (agent["id"],),
        ).fetchone()[0]
        start = datetime.fromisoformat(rows[-1]["created_at"])
        added: list[str] = []
        total = con.execute(
            "SELECT count(*) FROM memgpt_recall_memory_agent WHERE agent_id = ?", (agent["id"],)
        ).fetchone()[0]
        n = 0
        while total < messages:
            row = dict(rows[n % len(rows)])
            row["id"] = str(uuid.uuid4())
            row["created_at"] = (start + timedelta(seconds=n + 1)).isoformat(sep=" ")
            con.execute(
                f"INSERT INTO memgpt_recall_memory_agent ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
            added.append(row["id"])
            total += 1
            n += 1
        state = json.loads(agent["state"])
        window = added[-WINDOW:]
        while (
            window
            and con.execute(
                "SELECT role FROM memgpt_recall_memory_agent WHERE id = ?", (window[0],)
            ).fetchone()[0]
            == "tool"
        ):
            window.pop(0)
        state["messages"] = [system, *window]
        con.execute("UPDATE agents SET state = ? WHERE id = ?", (json.dumps(state), agent["id"]))
        con.commit()
    return total


def timed_import(home: Path, scratch: Path) -> tuple[float, str]:
    env = {**os.environ, "MEMGPT_TUI_HOME": str(scratch)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "memgpt_tui", "import", str(home), "--agent", AGENT],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - started, done.stdout.splitlines()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-import-"))
    try:
        home = unpack(tmp / "fixture")
        seconds, line = timed_import(home, tmp / "a")
        print(f"fixture:        {seconds:6.2f} s  {line}")
        big = unpack(tmp / "scaled")
        count = scale(big, args.messages)
        seconds, line = timed_import(big, tmp / "b")
        print(f"{count} messages: {seconds:6.2f} s  {line}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
