"""``memgpt-tui serve``: the agents over HTTP, Letta-compatible paths plus our own (``/v1/x-memgpt/``)."""
