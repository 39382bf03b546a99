"""What a person is told when something fails: the same words in line mode, the TUI and the Client."""

from __future__ import annotations

from .config import ConfigError
from .model.errors import AgentError, LLMError, StoreError
from .model.text import redact


def line(exc: BaseException) -> str:
    """The errors made for people say what to do themselves; a file the system refused gets a
    cannot-use line; anything else is unexpected, and its details go to the log."""
    if isinstance(exc, LLMError):
        text = f"{exc} {exc.hint}".strip()
    elif isinstance(exc, ConfigError | StoreError | AgentError):
        text = str(exc)
    elif isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        text = (
            f"cannot use{where}: {exc.strerror or exc}. memgpt-tui needs to write there: "
            "fix it, or set MEMGPT_TUI_HOME to another directory."
        )
    else:
        text = f"Unexpected error: {type(exc).__name__}: {exc}. Details are in the log file."
    return redact(text)
