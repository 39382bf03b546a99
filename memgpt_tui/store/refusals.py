"""The one line an agent that cannot be opened gets: which agent, what is wrong, what to do."""

from __future__ import annotations

import errno
import re

from ..model.errors import StoreError

_IN_THE_WAY = {
    errno.EISDIR: "is a directory where memgpt-tui keeps a file",
    errno.EEXIST: "is a file where memgpt-tui keeps a directory",
    errno.ENOTDIR: "is a file where memgpt-tui keeps a directory",
}
_NOT_ALLOWED = {errno.EACCES, errno.EPERM, errno.EROFS}
_SOURCE = re.compile(r",?\s*\S+\.rs:\d+:\d+")  # where in a Rust library's source an error was raised
_LONGEST = 240  # characters of a library's message kept (some run to pages)


def damaged(name: str, uri: str, exc: BaseException) -> StoreError:
    """Lance cannot read the agent's tables."""
    return StoreError(
        f"Agent {name!r} at {uri} is damaged: {brief(exc)}. It was left untouched; "
        f"`memgpt-tui doctor {name}` says what is damaged and `--repair` rebuilds what it can, "
        "or import the agent again from an export."
    )


def unusable(name: str, exc: OSError) -> StoreError:
    """A file of the agent's cannot be used: something else is in its place, or it may not be written."""
    where = exc.filename or "its directory"
    what = f": {exc.strerror or brief(exc)}"
    if exc.errno in _IN_THE_WAY:
        what = f" {_IN_THE_WAY[exc.errno]}"
        todo = (
            f"It was left untouched; `memgpt-tui doctor {name} --repair` moves what is in the way "
            "into a dated folder (nothing is deleted)."
        )
    elif exc.errno in _NOT_ALLOWED:
        todo = "memgpt-tui needs to write there: fix it, or set MEMGPT_TUI_HOME to another directory."
    else:
        todo = f"It was left untouched; `memgpt-tui doctor {name}` says what is wrong."
    return StoreError(f"Agent {name!r} cannot be opened: {where}{what}. {todo}")


def brief(exc: BaseException) -> str:
    """An exception's message on one line, cut to a readable length."""
    text = " ".join(_SOURCE.sub("", str(exc)).split()) or type(exc).__name__
    return text if len(text) <= _LONGEST else text[: _LONGEST - 1] + "…"
