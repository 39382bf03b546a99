"""A new agent whose Lance tables were never made, or whose making was cut short (``writes.py``):
its journal still holds every write since its first, or nothing was ever written. Its next open makes
the tables it lacks and replays the journal into them; to the doctor, a missing table is then no damage.
"""

from __future__ import annotations

from pathlib import Path

from .journal import read_segment, segments
from .meta import AgentMeta


def journal_holds_everything(journal: Path, meta: AgentMeta) -> bool:
    found = segments(journal)
    if not found:
        return meta.messages == 0 and meta.archival == 0
    first = read_segment(found[0])
    return bool(first) and first[0]["seq"] == 1
