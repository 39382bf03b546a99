"""The start-up loading indicator."""

from __future__ import annotations

from textual.widgets import LoadingIndicator


class LoadingDots(LoadingIndicator):
    """Animates only while its screen is on top. The loading view stays under the main screen, and
    Textual repaints the whole top screen for every frame an animation draws in the screen below."""

    def automatic_refresh(self) -> None:
        if self.screen is self.app.screen:
            super().automatic_refresh()
