"""memgpt-tui: a terminal app and Python API for MemGPT agents."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import Client

__all__ = ["Client"]


def __getattr__(name: str) -> Any:
    # Imported lazily: the CLI must start fast, and LanceDB/openai are heavy.
    if name == "Client":
        from .client import Client

        return Client
    raise AttributeError(name)
