"""A new agent whose Lance tables were never needed (see ``writes.py``): none on disk, and a journal
that holds every write since the agent's first, or nothing written at all. Its next open makes them."""

from __future__ import annotations

from pathlib import Path

from .journal import read_segment
from .meta import AgentMeta
from .rows import ALL_TABLES


def never_made(folder: Path, journal: Path, meta: AgentMeta) -> bool:
    if any((folder / f"{name}.lance").exists() for name in ALL_TABLES):
        return False
    segments = sorted(journal.glob("*.log"))
    if not segments:
        return meta.messages == 0 and meta.archival == 0
    first = read_segment(segments[0])
    return bool(first) and first[0]["seq"] == 1
