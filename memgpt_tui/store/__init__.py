"""Storage: one LanceDB database per agent (recall, archival, checkpoints), data sources, embedders.

``api`` is the contract the engine uses; ``registry`` finds, creates, exports and imports agents;
``agent_store`` implements the contract on ``tables`` (Lance) behind a ``journal`` (fast, crash-safe).
"""

import os

# LanceDB's Rust core logs warnings (e.g. while folding rows into an index) straight to file
# descriptor 2, which is the terminal under a full-screen app. Failures reach us as exceptions.
for _variable in ("LANCEDB_LOG", "LANCE_LOG"):
    os.environ.setdefault(_variable, "error")
