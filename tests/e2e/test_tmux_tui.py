"""The real `memgpt-tui` console script in a real terminal (tmux), on the bundled embedded model."""

from __future__ import annotations

import os
import re

import pytest

from tests.e2e.terminal import Terminal, human_block
from tests.e2e.terminal import pytestmark as terminal_marks

pytestmark = [*terminal_marks, pytest.mark.xdist_group("bundled-model")]


def used_tokens(screen: str) -> int:
    match = re.search(r"≈?([\d,]+) / [\d,]+ tokens", screen)
    assert match, screen
    return int(match.group(1).replace(",", ""))


@pytest.fixture
def term(tmp_path):
    terminal = Terminal(f"memgpt-e2e-{os.getpid()}", tmp_path / "home")
    yield terminal
    terminal.kill()


def previewed(screen: str) -> str | None:
    """The id of the checkpoint the history screen's preview (its right pane) shows."""
    found = re.search(r"\bid ([0-9a-f]{24})\b", "\n".join(line[70:] for line in screen.splitlines()))
    return found.group(1) if found else None


def retype(term: Terminal, text: str) -> None:
    """The open block editor's text replaced by ``text``: F7 selects it all (the agent may have added a
    line), then the text is typed; again when F7 came before the editor had focus and the text was
    added to what was there."""
    for _ in range(3):
        term.keys("F7")
        term.type(text)
        if not re.search(r"\S" + re.escape(text), term.wait_for(text)):
            return
    raise AssertionError(f"the editor kept its text before {text!r}:\n{term.screen()}")


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
    retype(term, "Name: Ada. Sails on weekends.")
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
    retype(term, "Name: unknown.")
    term.keys("C-s")
    term.wait(lambda s: "Cancel edit" not in s, 30, "the edit saved")
    assert human_block(term, "Name: unknown.").startswith("Name: unknown.")
    term.keys("C-r")
    term.wait(lambda s: previewed(s) is not None, 30, "the newest checkpoint's preview")
    for _ in range(10):  # newest first: walk down until the preview (right pane) shows it
        screen = term.screen()
        if any("ada-known" in line[70:] for line in screen.splitlines()):
            break
        before = previewed(screen)
        term.keys("Down")
        term.wait(lambda s, before=before: previewed(s) not in (None, before), 30, "the next preview")
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
