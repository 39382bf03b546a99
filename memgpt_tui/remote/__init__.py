"""An agent on a memgpt-tui server, behind the same interface as a local one (``model.handle``)."""
