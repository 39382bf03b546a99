"""A real terminal (tmux) running the real `memgpt-tui` console script, driven as a person would: keys,
typed text, and waits on what the screen shows."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]
SCRIPT = Path(sys.executable).with_name("memgpt-tui")
STEP_SECONDS = 420  # a step of the 270M model on two busy cores, greeting included
KEY_SETTLE = 0.5


class Terminal:
    def __init__(self, name: str, home: Path, size: tuple[int, int] = (120, 40)) -> None:
        self.name = name
        self.home = home
        self.size = size

    def launch(self, *args: str) -> None:
        # COLUMNS/LINES inherited from a test runner would override the real terminal size.
        path = os.environ.get("PYTHONPATH", "")
        command = f"env -u COLUMNS -u LINES TERM=xterm-256color PYTHONPATH={path} MEMGPT_TUI_HOME={self.home} {SCRIPT} {' '.join(args)}"
        width, height = (str(n) for n in self.size)
        self.tmux("new-session", "-d", "-s", self.name, "-x", width, "-y", height, command)
        # Without a client attached tmux may size the window from its defaults: pin it.
        self.tmux("set-option", "-t", self.name, "window-size", "manual")
        self.resize(*self.size)

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """On this terminal's own tmux server, so no session or environment is shared with another."""
        return subprocess.run(["tmux", "-L", self.name, *args], check=check, capture_output=True, text=True)

    def resize(self, width: int, height: int) -> None:
        self.tmux("resize-window", "-t", self.name, "-x", str(width), "-y", str(height))

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name, check=False).stdout

    def keys(self, *keys: str) -> None:
        self.send("send-keys", "-t", self.name, *keys)

    def type(self, text: str) -> None:
        self.send("send-keys", "-t", self.name, "-l", text)

    def send(self, *args: str) -> None:
        """Returns once the screen shows the input's effect, or after KEY_SETTLE for input whose effect
        has no text (a selection, a focus colour): the next key then finds the app in its new state."""
        before = self.screen()
        self.tmux(*args)
        deadline = time.monotonic() + KEY_SETTLE
        while time.monotonic() < deadline and self.screen() == before:
            time.sleep(0.02)

    def wait(self, predicate: Callable[[str], bool], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; screen:\n{self.screen()}")

    def wait_for(self, text: str, timeout: float = 30) -> str:
        return self.wait(lambda s: text in s, timeout, repr(text))

    def wait_idle(self) -> str:
        """Until no step has run for three seconds (the status line offers Esc while one does); a chain
        of steps has short gaps between them."""
        quiet_since = [time.monotonic()]

        def settled(screen: str) -> bool:
            if "Esc cancels" in screen:
                quiet_since[0] = time.monotonic()
            return time.monotonic() - quiet_since[0] > 3

        return self.wait(settled, STEP_SECONDS, "the agent to finish its steps")

    def alive(self) -> bool:
        return self.tmux("has-session", "-t", self.name, check=False).returncode == 0

    def kill(self) -> None:
        self.tmux("kill-server", check=False)
        socket = Path(os.environ.get("TMUX_TMPDIR", "/tmp"), f"tmux-{os.getuid()}", self.name)
        socket.unlink(missing_ok=True)  # tmux leaves it behind


def human_block(term: Terminal, expected: str) -> str:
    """The human block as /memory prints it into the conversation, once the latest printout starts
    with ``expected`` (an earlier printout stays on screen)."""
    term.keys("C-l")
    term.type("/memory")
    term.keys("Enter")
    screen = term.wait(lambda s: latest_human(s).startswith(expected), 30, f"/memory to show {expected!r}")
    return latest_human(screen)


def latest_human(screen: str) -> str:
    lines = screen.splitlines()
    starts = [i for i, line in enumerate(lines[:-1]) if "[human]" in line]
    return lines[starts[-1] + 1].strip("│ ").strip() if starts else ""
