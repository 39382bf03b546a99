"""Find in the conversation: a query over the agent's whole recall history, stepped through newest first.

The matches are recall messages (the engine's full-text search, the agent's own recall search); the
conversation loads older pages until a match is mounted, then selects it, so copy acts on it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Input, Static

if TYPE_CHECKING:
    from ...model.handle import AgentHandle
    from .conversation import Conversation


class FindInput(Input):
    BINDINGS = [
        # Terminals without the kitty protocol send Enter for shift+enter: the arrows always work.
        Binding("enter,up", "step(1)", "Older match", key_display="⏎/↑", id="find.next"),
        Binding("shift+enter,down", "step(-1)", "Newer match", key_display="⇧⏎/↓", id="find.previous"),
        Binding("escape", "close", "Close find", priority=True, id="find.close"),  # see main.find
    ]

    def __init__(self, bar: FindBar) -> None:
        super().__init__(placeholder="Find in the conversation", id="find-input")
        self.bar = bar

    def action_step(self, direction: int) -> None:
        self.bar.run_worker(self.bar.step(direction), group="find")

    def action_close(self) -> None:
        self.bar.close()


class FindBar(Horizontal):
    DEFAULT_CSS = """
    FindBar { height: auto; padding: 0 1; display: none; }
    FindBar #find-label { width: auto; padding: 1 1 0 0; color: $accent; text-style: bold; }
    FindBar #find-input { width: 1fr; }
    FindBar #find-counter { width: auto; min-width: 12; padding: 1 0 0 1; color: $text-muted; }
    """

    def __init__(
        self, agent: AgentHandle, conversation: Conversation, back: Widget, **kwargs: object
    ) -> None:
        """``back``: what has the focus again when the bar closes without a match selected."""
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.agent = agent
        self.conversation = conversation
        self.back = back
        self.input = FindInput(self)
        self.counter = Static(id="find-counter")
        self._query: str | None = None  # what ``_matches`` were found for
        self._recall = 0  # the recall size they were found in: new messages may match too
        self._matches: list[str] = []  # message ids, oldest first
        self._index = 0

    def compose(self) -> ComposeResult:
        yield Static(Content("Find"), id="find-label")
        yield self.input
        yield self.counter

    def open(self) -> None:
        """Show the bar with the last query selected; the next Enter searches again (history may
        have changed since)."""
        self.display = True
        self._query = None
        # At once, not after the next refresh as focus() does: keys typed right after ctrl+f are the query.
        self.screen.set_focus(self.input)
        self.input.select_all()

    def close(self) -> None:
        """Esc: the selected match stays selected, and the conversation has the focus for copy."""
        self.display = False
        self.screen.set_focus(self.conversation if self.conversation.selected is not None else self.back)

    @on(Input.Changed)
    def _changed(self) -> None:
        self._query = None
        self.counter.update("")

    async def step(self, direction: int) -> None:
        """``1``: the next match back in time (the newest first); ``-1``: forward again. Wraps around."""
        query = self.input.value.strip()
        if not query:
            return
        recall = self.agent.snapshot().recall_messages
        if query != self._query or recall != self._recall:
            shown = self._matches[self._index] if query == self._query and self._matches else None
            self.counter.update(Content("Searching…"))
            self._matches = await self.agent.find_messages(query)
            self._query, self._recall = query, recall
            # The same query over a grown history goes on from the match shown; a new one starts anew.
            self._index = self._matches.index(shown) if shown in self._matches else len(self._matches)
        if not self._matches:
            self.counter.update(Content(f"No match for “{query}”"))
            return
        self._index = (self._index - direction) % len(self._matches)
        self.counter.update(Content(f"{len(self._matches) - self._index} of {len(self._matches)}"))
        if not await self.conversation.reveal(self._matches[self._index], query.split()):
            self.counter.update(Content("That message is no longer in the conversation"))
