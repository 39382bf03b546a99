"""The real `memgpt-tui` in a default-sized terminal (tmux, 80x24 then 80x23 as under tmux's status
line), on a fake OpenAI-compatible server: core memory in the strip under the conversation, edited in
the panel F2 opens."""

from __future__ import annotations

import os

import pytest

from tests.e2e.terminal import Terminal, pytestmark  # noqa: F401  (the same marks)
from tests.fakes.openai_server import FakeOpenAIServer, Reply

EDITED = "First name: Chad, likes green tea"


@pytest.fixture
def term(tmp_path):
    terminal = Terminal(f"memgpt-layout-{os.getpid()}", tmp_path / "home", size=(80, 24))
    yield terminal
    terminal.kill()


def strip_line(screen: str, label: str) -> str:
    """The block's line in the strip: under the conversation's box, before the gauge."""
    lines = screen.splitlines()
    bottom = max(i for i, line in enumerate(lines) if line.startswith("╰"))
    return next((line for line in lines[bottom + 1 :] if line.split()[:1] == [label]), "")


def test_core_memory_in_the_strip_and_the_panel_at_80x24(term):
    with FakeOpenAIServer() as server:
        server.script(
            Reply.tool_call(
                "core_memory_replace",
                {
                    "label": "human",
                    "old_content": "First name: (unknown yet)",
                    "new_content": EDITED,
                    "request_heartbeat": True,
                },
                content="He told me his name.",
            ),
            Reply.tool_call("send_message", {"message": "Noted: green tea."}, content="Answer."),
        )
        term.launch(
            "--agent", "tea", "--backend", "openai-compatible", "--base-url", server.base_url,
            "--model", "fake", "--first", "--no-verify",
        )  # fmt: skip
        term.wait_for("tea  openai-compatible:fake", 60)
        term.type("I'm Chad and I like green tea")
        term.keys("Enter")
        screen = term.wait(lambda s: EDITED in strip_line(s, "human"), 30, "the agent's edit in the strip")
        assert "persona" in strip_line(screen, "persona") and "f2 Core memory" in screen

        term.keys("F2")  # the panel takes the conversation's place, the persona block focused
        screen = term.wait_for("Core memory ─")
        assert "I'm Chad" not in screen and "d: see the agent's last edit" in screen
        term.keys("Tab", "e")  # the human block, in its editor
        term.wait_for("ctrl+s save · esc cancel")
        term.type(" and oolong")
        term.keys("C-s")
        saved = f"{EDITED} and oolong"
        term.wait(lambda s: saved in s and "Edit block" in s, 30, "the edit saved, the block focused")

        term.keys("F2")  # back to the conversation, the edit in the strip
        term.wait(
            lambda s: "Core memory ─" not in s and "I'm Chad" in s and saved in strip_line(s, "human"),
            10,
            "the panel to close, the conversation and the edit in the strip",
        )

        term.resize(80, 23)
        screen = term.wait(lambda s: len(s.rstrip("\n").splitlines()) <= 23, 10, "the terminal to shrink")
        term.wait(
            lambda s: (
                "Noted: green tea." in s
                and saved in strip_line(s, "human")
                and "/8,192" in s
                and "f2 Core memory" in s
            ),
            10,
            "every part laid out again",
        )
        term.keys("C-q")
        term.wait(lambda s: not term.alive(), 30, "the app to quit")
