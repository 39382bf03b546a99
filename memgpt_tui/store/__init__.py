"""Storage: one LanceDB database per agent (recall, archival, checkpoints), data sources, embedders.

``api`` is the contract the engine uses; ``registry`` finds, creates, exports and imports agents;
``agent_store`` implements the contract on ``tables`` (Lance) behind a ``journal`` (fast, crash-safe).
"""

import importlib.util
import os
import sys

# LanceDB's Rust core logs warnings (e.g. while folding rows into an index) straight to file
# descriptor 2, which is the terminal under a full-screen app. Failures reach us as exceptions.
for _variable in ("LANCEDB_LOG", "LANCE_LOG"):
    os.environ.setdefault(_variable, "error")


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
