"""The real `memgpt-tui` console script in a real terminal (tmux), on the bundled embedded model."""

from __future__ import annotations

import os
import re

import pytest

from tests.e2e.terminal import Terminal, human_block, pytestmark  # noqa: F401  (the same marks)


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
    term.wait_for("Cancel edit")
    term.keys("F7")  # select the whole block (the agent may have added a line)
    term.type("Name: Ada. Sails on weekends.")
    term.keys("C-s")
    term.wait(lambda s: "Cancel edit" not in s, 30, "the edit saved")
    assert human_block(term, "Name: Ada. Sails on weekends.").startswith("Name: Ada. Sails on weekends.")

    term.keys("C-l")
    term.type("/save ada-known")
    term.keys("Enter")
    term.wait_for("Saved checkpoint 'ada-known'")

    # Change the block again, then restore the named checkpoint from the history screen.
    term.keys("F2")
    term.keys("Tab")
    term.keys("Enter")
    term.wait_for("Cancel edit")
    term.keys("F7")
    term.type("Name: unknown.")
    term.keys("C-s")
    term.wait(lambda s: "Cancel edit" not in s, 30, "the edit saved")
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
