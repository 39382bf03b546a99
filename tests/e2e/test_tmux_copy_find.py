"""Find and copy in the real `memgpt-tui` in a real terminal (tmux), on a fake OpenAI-compatible server:
find jumps to a message the pane has not mounted, and copy reaches the terminal as an OSC 52 sequence."""

from __future__ import annotations

import base64
import os
import re

import pytest

from tests.e2e.terminal import Terminal, pytestmark  # noqa: F401  (the same marks)
from tests.fakes.openai_server import FakeOpenAIServer, Reply

FIRST = "I saw a zebra at the zoo today"
TURNS = 25  # with the boot messages, more than the pane mounts at start


def answered(screen: str, text: str) -> bool:
    """The reply to ``text`` is on screen and the step is over: the next message will be taken."""
    _, found, after = screen.partition(f"You  {text}")
    return bool(found) and "Here is my reply." in after and "Esc cancels" not in screen


@pytest.fixture
def term(tmp_path):
    terminal = Terminal(f"memgpt-copy-{os.getpid()}", tmp_path / "home")
    yield terminal
    terminal.kill()


def test_find_jumps_back_and_copy_reaches_the_terminal(term, tmp_path):
    term.home.mkdir(parents=True)
    (term.home / "config.toml").write_text('[keymap]\n"conversation.copy" = "y"\n', encoding="utf-8")
    with FakeOpenAIServer() as server:
        server.default = Reply.tool_call("send_message", {"message": "Here is my reply."}, content="Answer.")
        agent = ["--agent", "tea"]
        term.launch(
            *agent,
            "--backend",
            "openai-compatible",
            "--base-url",
            server.base_url,
            "--model",
            "fake",
            "--first",
        )
        term.wait_for("tea  openai-compatible:fake", 60)
        for text in [FIRST, *(f"note {n} about tea" for n in range(TURNS))]:
            term.type(text)
            term.keys("Enter")
            term.wait(lambda s, t=text: answered(s, t), 30, f"an answer to {text!r}")
        term.keys("C-q")
        term.wait(lambda s: not term.alive(), 30, "the app to quit")

        term.launch(*agent)
        term.wait_for(f"note {TURNS - 1} about tea", 60)
        assert FIRST not in term.screen()
        pane = tmp_path / "pane.out"
        term.tmux("pipe-pane", "-o", "-t", term.name, f"cat >> {pane}")
        term.keys("C-f")
        term.type("zebra")
        term.keys("Enter")
        screen = term.wait_for(FIRST)
        assert "1 of 1" in screen
        term.keys("Escape")  # the match stays selected; the conversation has the focus
        term.wait_for("y Copy message")
        term.keys("y")
        term.wait_for(f"Copied {len(FIRST)} characters.")
        sequences = re.findall(rb"\x1b\]52;c;([A-Za-z0-9+/=]+)", pane.read_bytes())
        assert sequences and base64.b64decode(sequences[-1]).decode() == FIRST
