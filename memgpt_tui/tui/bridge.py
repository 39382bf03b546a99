"""Engine events onto Textual's message bus.

The agent runs on the app's event loop (in workers) and calls its listeners synchronously, so a
listener must never do UI work itself: the bridge only posts each event's message (``messages.py``) to every
subscribed widget, which handles the events it cares about.
``Token`` events can arrive hundreds of times a second; they are buffered and flushed every ``FRAME``
as one merged token per channel, and always before the next non-token event so order is kept.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from textual.message_pump import MessagePump

from ..model import events as ev
from .messages import MESSAGES

if TYPE_CHECKING:
    from ..model.handle import AgentHandle

FRAME = 1 / 20  # each flush repaints the conversation: keys typed meanwhile wait for it


class Bridge:
    """Subscribes to an agent and posts each event's message to every one of ``targets``, in order."""

    def __init__(self, agent: AgentHandle, targets: Sequence[MessagePump], frame: float = FRAME) -> None:
        self._targets = tuple(targets)
        self._frame = frame
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._tokens: list[ev.Token] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._unsubscribe: Callable[[], None] | None = agent.subscribe(self)

    def __call__(self, event: ev.Event) -> None:
        if threading.get_ident() != self._thread:
            self._loop.call_soon_threadsafe(self._accept, event)
        else:
            self._accept(event)

    def _accept(self, event: ev.Event) -> None:
        if isinstance(event, ev.Token):
            self._tokens.append(event)
            if self._flush_handle is None:
                self._flush_handle = self._loop.call_later(self._frame, self.flush)
            return
        self.flush()
        self._post(event)

    def flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        for token in merge_tokens(self._tokens):
            self._post(token)
        self._tokens.clear()

    def _post(self, event: ev.Event) -> None:
        message = MESSAGES[type(event)]
        for target in self._targets:
            target.post_message(message(event))  # one each: a message carries its own dispatch state

    def close(self) -> None:
        self.flush()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


def merge_tokens(tokens: list[ev.Token]) -> list[ev.Token]:
    """Consecutive tokens of one channel become one token."""
    merged: list[ev.Token] = []
    for token in tokens:
        if merged and merged[-1].channel == token.channel:
            merged[-1] = ev.Token(token.channel, merged[-1].text + token.text)
        else:
            merged.append(token)
    return merged
