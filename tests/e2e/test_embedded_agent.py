"""End to end on the real bundled model: the llama.cpp server child process, a new agent, two messages,
then a new process that resumes the same agent with its memory intact."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def plain(home, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MEMGPT_TUI_HOME": str(home)}
    env.pop("OPENAI_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "memgpt_tui", "run", "--plain", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


def test_embedded_agent_chats_and_resumes(tmp_path):
    home = tmp_path / "home"
    first = plain(
        home,
        "--agent",
        "ada",
        "--first",
        "--human",
        "basic",
        stdin="Hi! My name is Ada and I love sailing.\nWhat do you remember about me?\n",
    )
    assert first.returncode == 0, first.stderr
    replies = [line for line in first.stdout.splitlines() if line.startswith("ada: ")]
    assert len(replies) >= 2, first.stdout  # send_message replies reached the user
    assert "💭 " in first.stdout

    # The server child process is gone with its parent.
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(home) not in ps

    second = plain(home, "--agent", "ada", stdin="/memory\n/dump\n/exit\n")
    assert second.returncode == 0, second.stderr
    assert "[persona]" in second.stdout and "[human]" in second.stdout
    assert "Recall memory:" in second.stdout
    recall = int(second.stdout.split("Recall memory: ")[1].split()[0])
    assert recall >= 8  # boot sequence, login, both messages and the agent's replies
    assert "My name is Ada and I love sailing." in second.stdout  # /dump shows the earlier conversation
