"""One operation at a time on an agent, and commits that outlive a cancelled step."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class Turns:
    """A step's model call can be cancelled; once its reply arrives, running the functions, persisting
    and checkpointing finish together (``commit``), so a cancel never leaves half a step in memory or on
    disk. The next operation waits for such a commit before it starts."""

    def __init__(self, opened: asyncio.Event) -> None:
        self._opened = opened
        self._lock = asyncio.Lock()
        self._commit: asyncio.Future[Any] | None = None

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        await self._opened.wait()
        async with self._lock:
            await self.settle()
            yield

    async def commit(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` to the end even if the caller is cancelled meanwhile."""
        future = asyncio.ensure_future(work)
        self._commit = future
        return await asyncio.shield(future)

    async def settle(self) -> None:
        """Wait for a commit whose step was cancelled (its own caller already reported any failure)."""
        if self._commit is not None:
            with contextlib.suppress(Exception):
                await self._commit
            self._commit = None
