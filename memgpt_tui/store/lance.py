"""LanceDB, as every module of the store imports it: without loading the endpoints of the Lance REST
namespace client up front.

LanceDB imports the models of that generated client (``lance_namespace_urllib3_client``), whose package
``__init__`` also imports every endpoint class, each building its validators: about a second of CPU and
15 MB that an agent on a disk or an object store never uses. Here the package's module is made from
its own spec and its ``__init__`` runs on first use of a name it defines (PEP 562): the models, plain
submodules, import as they are, and a program that asks the package for an endpoint (or anything
else) gets the whole package, as if it had been imported whole. Nothing else changes; a package
already imported is left as it is.

On Python 3.11 LanceDB marks its methods with the ``overrides`` package, which checks every subclass by
disassembling its methods' bytecode as the class is made (about 0.2 s of LanceDB's import); from 3.12
it uses ``typing.override``, which only marks. While LanceDB imports, ``overrides`` stands for that
marker and a plain base class; the stand-in is gone afterwards, so a program that imports ``overrides``
later gets the real package.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typing_extensions

_REST_CLIENT = "lance_namespace_urllib3_client"


def _defer_package_init(name: str) -> None:
    if name in sys.modules or "lancedb" in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader
    lock = threading.RLock()

    def complete(attribute: str) -> Any:
        with lock:
            if module.__dict__.get("__getattr__") is complete:
                del module.__dict__["__getattr__"]  # from here on, the package as it is
                loader.exec_module(module)
        try:
            return module.__dict__[attribute]
        except KeyError:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}") from None

    module.__dict__["__getattr__"] = complete
    sys.modules[name] = module


@contextmanager
def _marking_overrides() -> Iterator[None]:
    if sys.version_info >= (3, 12) or "overrides" in sys.modules or "lancedb" in sys.modules:
        yield
        return
    stand_in = types.ModuleType("overrides")
    stand_in.override = typing_extensions.override  # type: ignore[attr-defined]
    stand_in.EnforceOverrides = type("EnforceOverrides", (), {})  # type: ignore[attr-defined]
    sys.modules["overrides"] = stand_in
    try:
        yield
    finally:
        if sys.modules.get("overrides") is stand_in:
            del sys.modules["overrides"]


_defer_package_init(_REST_CLIENT)

with _marking_overrides():
    import lancedb
    from lancedb.index import FTS, BTree, IvfSq
    from lancedb.query import ColumnOrdering, LanceVectorQueryBuilder
    from lancedb.table import Table

__all__ = ["FTS", "BTree", "ColumnOrdering", "IvfSq", "LanceVectorQueryBuilder", "Table", "lancedb"]
