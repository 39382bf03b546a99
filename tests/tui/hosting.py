"""Host one screen in a small App for Pilot and snapshot tests."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input, TextArea

from memgpt_tui.config import shipped_dir
from memgpt_tui.tui.breakpoints import HEIGHTS, WIDTHS
from memgpt_tui.tui.themes import THEME_VARIABLE_DEFAULTS, load_theme

SIZE = (120, 40)
SMALL = (80, 24)  # a default terminal
# The sizes the layouts change at: a default terminal; the column layout at its tightest; the common
# size; a large one.
SCREEN_SIZES = [SMALL, (100, 30), SIZE, (200, 60)]
SNAPSHOT_SIZES = pytest.mark.parametrize("size", SCREEN_SIZES, ids=[f"{w}x{h}" for w, h in SCREEN_SIZES])


class HostApp(App[None]):
    """Pushes ``make_screen()`` on mount and records what it dismisses with; records notifications."""

    HORIZONTAL_BREAKPOINTS = WIDTHS  # as in the app
    VERTICAL_BREAKPOINTS = HEIGHTS

    def __init__(self, make_screen: Callable[[], Screen[Any]] | None = None) -> None:
        super().__init__()
        self.make_screen = make_screen
        self.results: list[Any] = []
        self.notes: list[tuple[str, str]] = []
        self.register_theme(load_theme(shipped_dir("themes") / "memgpt-dark.toml"))
        self.theme = "memgpt-dark"

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return THEME_VARIABLE_DEFAULTS

    def on_mount(self) -> None:
        if self.make_screen is not None:
            self.push_screen(self.make_screen(), self.results.append)

    def notify(self, message: str, *, severity: str = "information", **kw: Any) -> None:  # type: ignore[override]
        self.notes.append((severity, str(message)))
        super().notify(message, severity=severity, **kw)  # type: ignore[arg-type]


async def wait_until(pilot: Pilot[Any], predicate: Callable[[], object], timeout: float = 30.0) -> None:
    """Let the app run until ``predicate()`` is true; fail after ``timeout`` seconds (busy machines)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {getattr(predicate, '__name__', predicate)}"
            )
        await pilot.pause(0.02)


def still(pilot: Pilot[Any]) -> None:
    """No blinking cursors, so snapshots are stable."""
    for widget in pilot.app.screen.query("Input, TextArea"):
        assert isinstance(widget, Input | TextArea)
        widget.cursor_blink = False


def isolate(monkeypatch: pytest.MonkeyPatch, home: Path) -> Path:
    """Point data and config at ``home`` and drop settings the developer's environment may carry."""
    for name in list(os.environ):
        if name.startswith(("MEMGPT_TUI_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MEMGPT_TUI_HOME", str(home))
    return home
