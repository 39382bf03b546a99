"""What the app sets for its whole process when it starts (``cli.main``), before anything imports
LanceDB. Importing ``memgpt_tui`` sets none of it: a program embedding the Client keeps its own
environment, allocator and modules, and may call ``prepare`` itself to get the app's."""

from __future__ import annotations

import ctypes
import os
import sys

_M_ARENA_MAX = -8


def prepare() -> None:
    # LanceDB's Rust core logs warnings (e.g. while folding rows into an index) straight to file
    # descriptor 2, which is the terminal under a full-screen app. Failures reach us as exceptions.
    for variable in ("LANCEDB_LOG", "LANCE_LOG"):
        os.environ.setdefault(variable, "error")
    # Arrow's own jemalloc pool keeps freed pages for reuse; the tables here are small, and on the
    # system allocator they cost no speed and some 8 MB less resident memory. A setting of the user's wins.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    _one_malloc_arena_per_core()


def _one_malloc_arena_per_core() -> None:
    """glibc gives threads up to eight malloc arenas per core, and LanceDB's runtime threads each grow
    one; one per core keeps the same throughput with less memory held in idle arenas. Only when the
    user has not set ``MALLOC_ARENA_MAX`` (glibc reads it itself), and only on glibc."""
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_ARENA_MAX, os.cpu_count() or 1)
    except (OSError, AttributeError):  # not glibc
        pass
