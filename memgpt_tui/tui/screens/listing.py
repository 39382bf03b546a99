"""The frame the agent picker and the checkpoint browser share: a heading, a list, the key footer."""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar, TypeVar

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static

Picked = TypeVar("Picked")


class ListScreen(Screen[Picked | None]):
    """Dismisses with what the subclass picks, or None (``close``). Subclasses compose the list."""

    HEADING_ID: ClassVar[str]
    HEADING: ClassVar[str]

    def compose(self) -> ComposeResult:
        yield Static(self.HEADING, id=self.HEADING_ID)
        yield from self.compose_list()
        yield Footer()

    @abstractmethod
    def compose_list(self) -> ComposeResult:
        """The list, and whatever sits beside it."""

    def show_heading(self, text: str) -> None:
        self.query_one(f"#{self.HEADING_ID}", Static).update(text)

    def action_close(self) -> None:
        self.dismiss(None)
