"""The real `memgpt-tui --server URL` in real terminals (tmux), attached to a real `memgpt-tui serve` on
the fake model: the picker of the server's agents, a turn streamed and a block edited, a second terminal
reading along, what the server does not offer said in the help and the conversation."""

from __future__ import annotations

import os

import pytest

from tests.e2e.terminal import Terminal, human_block, pytestmark  # noqa: F401  (the same marks)
from tests.fakes.openai_server import Reply


@pytest.fixture
def terms(tmp_path):
    made = [Terminal(f"memgpt-attached-{os.getpid()}-{n}", tmp_path / f"home{n}") for n in range(2)]
    yield made
    for term in made:
        term.kill()


def test_two_terminals_on_one_agent_of_a_server(terms, served, fake, agent_name):
    first, second = terms
    first.launch("--server", served.url)
    first.wait_for(f"Agents on {served.url}", 30)
    assert agent_name in first.wait_for("Attached to a server")
    first.keys("q")
    first.wait(lambda s: not first.alive(), 15, "the picker to quit")

    first.launch("--server", served.url, "--agent", agent_name)
    second.launch("--server", served.url, "--agent", agent_name)
    for term in terms:
        term.wait(lambda s: f"on {served.url}" in s and "^q Quit" in s, 30, "the main screen")
    fake.default = Reply.tool_call("send_message", {"message": "Hello from the server."}, content="Greet.")
    first.type("Hi from the first terminal")
    first.keys("Enter")
    first.wait(lambda s: "Hello from the server." in s and "Esc cancels" not in s, 30, "the reply")
    # The second terminal read along: the first one's message and the reply.
    screen = second.wait_for("Hello from the server.", 15)
    assert "Hi from the first terminal" in second.wait_for("Hi from the first terminal", 15), screen

    # A block edited in the first shows in the second.
    first.keys("F2")
    first.keys("Tab")
    first.keys("Enter")
    first.wait_for("ctrl+s save", 15)
    first.type(" Likes tea.")  # the cursor starts at the end of the block
    first.keys("C-s")
    second.wait_for("Bo Likes tea.", 15)  # its core memory pane
    assert human_block(second, "Bo Likes tea.").startswith("Bo Likes tea.")  # and what /memory reads

    # What the server does not offer: said when asked for, and listed in the help.
    second.type("/attach notes")
    second.keys("Enter")
    second.wait_for("data sources are attached on the server's machine", 15)
    second.keys("F1")
    second.wait_for("Not offered by the server", 15)
