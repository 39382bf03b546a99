"""One line under the conversation: a spinner and what the agent is doing, or the input's keys."""

from __future__ import annotations

from textual.content import Content
from textual.timer import Timer
from textual.widgets import Static

FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
IDLE = "Enter sends · Shift+Enter or Ctrl+J: new line · ↑↓ history · / commands (Tab completes)"


class StatusLine(Static):
    def __init__(self, note: str = "", **kwargs: object) -> None:
        """``note``: said after the input's keys while idle (what an agent on a server does not offer)."""
        self._idle = f"{note} · {IDLE}" if note else IDLE
        super().__init__(Content(self._idle), **kwargs)  # type: ignore[arg-type]
        self._text = ""
        self._frame = 0
        self._timer: Timer | None = None

    def busy(self, text: str, cancellable: bool = True) -> None:
        self._text = f"{text} · Esc cancels" if cancellable else text
        self.add_class("-busy")
        if self._timer is None:
            self._timer = self.set_interval(0.1, self._tick)
        self._show()

    def idle(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.remove_class("-busy")
        self.update(Content(self._idle))

    def _tick(self) -> None:
        self._frame = (self._frame + 1) % len(FRAMES)
        self._show()

    def _show(self) -> None:
        # One line whatever it says: no layout of the screen ten times a second.
        self.update(Content(f"{FRAMES[self._frame]} {self._text}"), layout=False)
