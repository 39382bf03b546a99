"""What recall's and archival's searches share: a page of results, and a text search that mends a lost
index."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..model.records import Page

if TYPE_CHECKING:
    import pyarrow as pa

    from .lance import Table
    from .tables import StoreTables

log = logging.getLogger(__name__)


def text_search(
    tables: StoreTables, name: str, run: Callable[[Table], pa.Table], upkeep_lock: threading.Lock, agent: str
) -> pa.Table:
    """``run`` on the table; a text index whose files are gone (deleted by hand, half copied) is
    rebuilt from the rows, once, instead of failing every search from then on."""
    try:
        return run(tables[name])
    except RuntimeError as exc:
        if "_indices" not in str(exc):
            raise
        log.warning("agent %s: rebuilding the text index of %s (%s)", agent, name, exc)
        from .lance import FTS

        with upkeep_lock:
            tables[name].create_index("text", config=FTS(), replace=True)
        return run(tables[name])


def page_of(items: list[Any], total: int, page: int, page_size: int) -> Page[Any]:
    pages = -(-total // page_size) if page_size > 0 else 0
    return Page(items=items, total=total, page=page, pages=pages)
