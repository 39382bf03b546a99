"""Changing the agents of a MemGPT home made from the fixture."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any


def set_embedding(home: Path, **config: Any) -> None:
    """Change every agent's ``embedding_config`` in a MemGPT home (the fixture's was made against a
    server that is gone)."""
    _update_agents(home, "embedding_config", config)


def set_llm(home: Path, **config: Any) -> None:
    """Change every agent's ``llm_config`` in a MemGPT home."""
    _update_agents(home, "llm_config", config)


def _update_agents(home: Path, column: str, config: dict[str, Any]) -> None:
    with closing(sqlite3.connect(home / "sqlite.db")) as con:
        for row, value in con.execute(f"SELECT id, {column} FROM agents").fetchall():
            changed = {**json.loads(value), **config}
            con.execute(f"UPDATE agents SET {column} = ? WHERE id = ?", (json.dumps(changed), row))
        con.commit()
