"""Storage: one LanceDB database per agent (recall, archival, checkpoints), data sources, embedders.

``api`` is the contract the engine uses; ``registry`` finds, creates, exports and imports agents;
``agent_store`` implements the contract on ``tables`` (Lance) behind a ``journal`` (fast, crash-safe).
"""

import ctypes
import importlib.util
import os
import sys

# LanceDB's Rust core logs warnings (e.g. while folding rows into an index) straight to file
# descriptor 2, which is the terminal under a full-screen app. Failures reach us as exceptions.
for _variable in ("LANCEDB_LOG", "LANCE_LOG"):
    os.environ.setdefault(_variable, "error")

# Arrow's own jemalloc pool keeps freed pages for reuse; the tables here are small, and on the system
# allocator they cost no speed and some 8 MB less resident memory. A setting of the user's wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")


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


_M_ARENA_MAX = -8
_one_malloc_arena_per_core()


def _register_rest_client_without_endpoints() -> None:
    """LanceDB imports the models of the generated Lance REST namespace client; the package's own
    ``__init__`` also imports every endpoint class, each building its validators: over a second and
    15 MB that agents on a disk or an object store never use. Registering the package without running
    its ``__init__`` keeps the models (plain submodules) importable and skips the endpoints."""
    name = "lance_namespace_urllib3_client"
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is not None and spec.submodule_search_locations is not None:
        sys.modules[name] = importlib.util.module_from_spec(spec)


_register_rest_client_without_endpoints()
