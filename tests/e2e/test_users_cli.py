"""`memgpt-tui users ...` end to end: in a temp home, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from memgpt_tui import cli
from memgpt_tui.store import registry
from memgpt_tui.store.accounts import Accounts
from tests.store.helpers import HashEmbedder

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEMGPT_TUI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MEMGPT_TUI_DB", raising=False)
    return tmp_path / "home"


def users(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["users", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_add_prints_the_token_last_and_it_authenticates(home: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "memgpt_tui", "users", "add", "alice"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    with Accounts(None, home, str(home / "agents")) as accounts:
        assert accounts.authenticate(token).name == "alice"  # type: ignore[union-attr]


def test_list_token_remove_and_adopt(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert users(capsys, "list") == (0, "No users yet. Add one with: memgpt-tui users add NAME\n", "")
    _, out, _ = users(capsys, "add", "alice")
    first = out.splitlines()[-1]
    users(capsys, "add", "bob")
    code, _, err = users(capsys, "add", "alice")
    assert code == 2 and err == "memgpt-tui: A user named 'alice' already exists.\n"
    code, _, err = users(capsys, "token", "nobody")
    assert code == 2 and err == "memgpt-tui: No user named 'nobody' (see: memgpt-tui users list).\n"

    code, out, _ = users(capsys, "token", "alice")
    rotated = out.splitlines()[-1]
    assert code == 0 and rotated != first and "old one no longer works" in out
    with Accounts(None, home, str(home / "agents")) as accounts:
        assert accounts.authenticate(first) is None and accounts.authenticate(rotated) is not None

    root = str(home / "agents")
    registry.create_store(root, "sam", HashEmbedder()).close()
    registry.create_store(root, "max", HashEmbedder()).close()
    code, out, _ = users(capsys, "adopt", "alice", "sam")
    assert code == 0 and "now belongs to 'alice'" in out
    code, out, _ = users(capsys, "adopt", "bob", "max")
    assert cli.main(["list", "agents"]) == 0
    assert capsys.readouterr().out == "No agents yet.\n"  # both left the home's own list
    code, out, _ = users(capsys, "list")
    assert [line.split()[0] for line in out.splitlines()] == ["alice", "bob"]
    assert all(line.endswith(" 1 agent") for line in out.splitlines())

    code, _, err = users(capsys, "remove", "alice")
    assert code == 2 and "owns 1 agent(s) (sam)" in err and "--delete-agents" in err
    code, out, _ = users(capsys, "remove", "alice", "--to", "bob")
    assert code == 0 and out == "Removed user 'alice'; their agents now belong to 'bob': sam.\n"
    code, out, _ = users(capsys, "remove", "bob", "--delete-agents")
    assert code == 0 and out == "Removed user 'bob' and deleted their 2 agents: max, sam.\n"
    assert list((home / "users").rglob("agent.json")) == []
    assert users(capsys, "list")[1].startswith("No users yet")


def test_remove_with_delete_agents_is_refused_while_an_agent_is_open(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    users(capsys, "add", "alice")
    registry.create_store(str(home / "agents"), "sam", HashEmbedder()).close()
    users(capsys, "adopt", "alice", "sam")
    with Accounts(None, home, str(home / "agents")) as accounts:
        [record] = accounts.agents(accounts.user("alice").id)  # type: ignore[union-attr]
    store = registry.open_store(record.root, record.dir, HashEmbedder())
    try:
        code, _, err = users(capsys, "remove", "alice", "--delete-agents")
    finally:
        store.close()
    assert code == 2 and "is open in another memgpt-tui" in err
    assert users(capsys, "list")[1].startswith("alice")


def test_the_database_url_from_the_flag_the_environment_or_the_config(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    code, out, err = users(capsys, "add", "carol", "--db", postgres_url)
    assert code == 0, err
    assert users(capsys, "list")[1].startswith("No users yet")  # the home's SQLite is another database
    monkeypatch.setenv("MEMGPT_TUI_DB", postgres_url)
    assert users(capsys, "list")[1].startswith("carol")
    monkeypatch.delenv("MEMGPT_TUI_DB")
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(f'[serve]\ndb = "{postgres_url}"\n')
    assert users(capsys, "list")[1].startswith("carol")
    monkeypatch.setenv("MEMGPT_TUI_DB", f"sqlite:///{home / 'other.db'}")  # the environment beats the file
    assert users(capsys, "list")[1].startswith("No users yet")
    assert users(capsys, "list", "--db", postgres_url)[1].startswith("carol")  # and the flag beats both
    code, _, err = users(capsys, "list", "--db", "postgresql://me:topsecret@127.0.0.1:9/none")
    assert code == 2 and "did not answer" in err and "topsecret" not in err
