"""Storage: one LanceDB database per agent (recall, archival, checkpoints), data sources, embedders.

``api`` is the contract the engine uses; ``registry`` finds, creates, exports and imports agents;
``agent_store`` implements the contract on ``tables`` (Lance) behind a ``journal`` (fast, crash-safe).
Importing it changes nothing process-wide; the app's settings for LanceDB are in ``process.py``.
"""
