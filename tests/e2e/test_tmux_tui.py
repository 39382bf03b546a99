"""The real `memgpt-tui` console script in a real terminal (tmux), on the bundled embedded model."""

from __future__ import annotations

import os
import re
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
        self.tmux("send-keys", "-t", self.name, *keys)
        time.sleep(0.3)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.name, "-l", text)
        time.sleep(0.3)

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


def used_tokens(screen: str) -> int:
    match = re.search(r"≈?([\d,]+) / [\d,]+ tokens", screen)
    assert match, screen
    return int(match.group(1).replace(",", ""))


@pytest.fixture
def term(tmp_path):
    terminal = Terminal(f"memgpt-e2e-{os.getpid()}", tmp_path / "home")
    yield terminal
    terminal.kill()


def test_setup_chat_edit_checkpoint_restore_and_resume(term):
    term.launch()
    term.wait_for("Set up your first agent")
    assert "Embedded (gemma-3-270m" in term.screen()  # preselected: no key, no network
    term.keys("C-s")  # create with the defaults: agent_1 on the embedded model
    term.wait_for("agent_1  embedded:gemma-3-270m", 120)
    term.wait_idle()  # the agent greets first
    before = used_tokens(term.screen())

    term.type("Hi! My name is Ada and I love sailing.")
    term.keys("Enter")
    term.wait_for("▌ You  Hi! My name is Ada")
    screen = term.wait_idle()
    assert used_tokens(screen) > before  # the gauge moved
    assert screen.count("▌ agent_1") >= 2  # the greeting and the reply

    # Edit the human block inline: F2 focuses core memory, Tab moves to the second block.
    term.keys("F2")
    term.keys("Tab")
    term.keys("Enter")
    term.keys("F7")  # select the whole block (the agent may have added a line)
    term.type("Name: Ada. Sails on weekends.")
    term.keys("C-s")
    assert human_block(term, "Name: Ada. Sails on weekends.").startswith("Name: Ada. Sails on weekends.")

    term.keys("C-l")
    term.type("/save ada-known")
    term.keys("Enter")
    term.wait_for("Saved checkpoint 'ada-known'")

    # Change the block again, then restore the named checkpoint from the history screen.
    term.keys("F2")
    term.keys("Tab")
    term.keys("Enter")
    term.keys("F7")
    term.type("Name: unknown.")
    term.keys("C-s")
    assert human_block(term, "Name: unknown.").startswith("Name: unknown.")
    term.keys("C-r")
    term.wait_for("ada-known")
    for _ in range(10):  # newest first: walk down until the preview (right pane) shows it
        if any("ada-known" in line[70:] for line in term.screen().splitlines()):
            break
        term.keys("Down")
    term.keys("Enter")
    term.wait_for("Restore")
    term.keys("y")
    term.wait(
        lambda s: "Name: Ada. Sails on weekends." in s and "Name: unknown." not in s, 30, "the restored block"
    )

    term.keys("C-q")
    term.wait(lambda s: not term.alive(), 30, "the app to quit")
    assert not term.alive()

    term.launch("--agent", "agent_1")
    term.wait_for("agent_1  embedded:gemma-3-270m", 120)
    term.wait_for("Hi! My name is Ada")  # the conversation is back on screen
    assert human_block(term, "Name: Ada. Sails on weekends.").startswith("Name: Ada. Sails on weekends.")
