"""An agent's preview file: what a screen needs to show the agent before its store has opened.

The engine writes it when the agent closes (``engine/preview.py`` says what it holds); the next start
reads it while LanceDB is still loading. It lives on the local disk beside the lock and journal, and this
module stays free of the storage libraries so reading it costs milliseconds.
"""

from __future__ import annotations

import os
from pathlib import Path

from .lock import AgentLock
from .paths import local_state_dir, store_uri

FILE = "preview.json"


def path(root: str, name: str) -> Path:
    return local_state_dir(store_uri(root, name)) / FILE


def read(root: str, name: str) -> bytes | None:
    """The preview of ``name``, or None when it has none or another process has it open (so that the
    caller takes the ordinary path, which explains the lock)."""
    file = path(root, name)
    if not file.is_file():
        return None
    try:
        AgentLock(file.with_name("lock"), name).acquire().release()
        return file.read_bytes()
    except Exception:
        return None


def write(state_dir: Path, data: bytes) -> None:
    """Replace the preview atomically."""
    tmp = state_dir / f"{FILE}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    tmp.replace(state_dir / FILE)


def remove(state_dir: Path) -> None:
    (state_dir / FILE).unlink(missing_ok=True)
