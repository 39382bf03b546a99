"""Live directory watching with watchfiles: theme files, personas and humans appear without a restart."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from textual.message import Message
from textual.message_pump import MessagePump

from ..config import ensure_private_dir, shipped_dir, user_dir

TEXT_KINDS = ("personas", "humans")
log = logging.getLogger(__name__)


class TextsChanged(Message):
    """Files were added, edited or removed in a personas or humans directory."""

    def __init__(self, kinds: frozenset[str]) -> None:
        super().__init__()
        self.kinds = kinds


def overlay_dirs(kind: str) -> list[Path]:
    """The shipped directory and the user's overlay, created so it can be watched (and filled)."""
    return [shipped_dir(kind).resolve(), ensure_private_dir(user_dir(kind)).resolve()]


async def changed_files(dirs: Iterable[Path], suffix: str) -> AsyncIterator[set[Path]]:
    """Yield the set of changed ``*suffix`` files each time some change in ``dirs`` settles."""
    from watchfiles import awatch

    roots = [str(d) for d in dirs if d.is_dir()]
    if not roots:
        return
    async for changes in awatch(*roots, step=50, recursive=False):
        paths = {Path(p) for _, p in changes if p.endswith(suffix)}
        if paths:
            yield paths


async def watch_texts(target: MessagePump) -> None:
    """Post ``TextsChanged`` to ``target`` (a widget or screen) whenever a persona or human file changes."""
    dirs = {kind: overlay_dirs(kind) for kind in TEXT_KINDS}
    try:
        async for paths in changed_files([d for group in dirs.values() for d in group], ".txt"):
            kinds = frozenset(kind for kind, roots in dirs.items() if any(p.parent in roots for p in paths))
            if kinds:
                target.post_message(TextsChanged(kinds))
    except (OSError, RuntimeError):  # e.g. the OS limit on watched files: lists just will not refresh
        log.warning("personas and humans are not watched for changes", exc_info=True)
