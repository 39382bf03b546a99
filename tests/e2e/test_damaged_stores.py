"""An agent damaged on disk: one clear line naming it and what to do, in line mode, the TUI's failure
screen and the Client; nothing of it changed while refusing; other agents unaffected; and ``doctor``
says what is wrong and repairs it."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from memgpt_tui import cli, runtime
from memgpt_tui.client import Client, ClientError
from memgpt_tui.store.accounts import Accounts
from memgpt_tui.tui.app import MemGPTApp
from memgpt_tui.tui.screens.failure import FailureScreen
from tests.e2e.test_wire_agent import converse, settings_for
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.tui.hosting import isolate, wait_until


def garbage_in_a_messages_file(agent: Path) -> None:
    newest = max((agent / "messages.lance" / "data").glob("*.lance"), key=lambda p: p.stat().st_mtime_ns)
    newest.write_bytes(os.urandom(newest.stat().st_size))


def a_file_for_the_journal(agent: Path) -> None:
    shutil.rmtree(agent / "journal")
    (agent / "journal").write_text("not a journal")


def a_directory_for_the_lock(agent: Path) -> None:
    (agent / "lock").unlink()
    (agent / "lock").mkdir()


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "garbage": (garbage_in_a_messages_file, "is damaged: "),
    "journal": (a_file_for_the_journal, "journal is a file where memgpt-tui keeps a directory"),
    "lock": (a_directory_for_the_lock, "lock is a directory where memgpt-tui keeps a file"),
}


def contents(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture(scope="module")
def server():
    server = FakeOpenAIServer().start()
    server.default = Reply.tool_call("send_message", {"message": "ok"}, content="Reply.")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def template(tmp_path_factory, server: FakeOpenAIServer) -> Path:
    """A home with agents "hurt", "fine" and "new", two turns each: made once, copied by each test.
    "new" has had only its first session, still in its journal; the others were opened again, which
    made their tables."""
    home = tmp_path_factory.mktemp("template") / "home"
    with pytest.MonkeyPatch.context() as patch:
        isolate(patch, home)

        async def make() -> None:
            settings = settings_for(server.base_url)
            for name in ("hurt", "fine", "new"):
                agent = await runtime.create_agent(settings, name)
                await converse(agent, "hello")
                await converse(agent, "again")
                await agent.close()
                if name != "new":
                    await (await runtime.open_agent(settings, name)).close()

        asyncio.run(make())
    return home


@pytest.fixture(params=sorted(DAMAGE))
def damaged(request, template: Path, tmp_path: Path, monkeypatch) -> tuple[Path, str]:
    """A copy of the template home, agent "hurt" damaged one way."""
    home = isolate(monkeypatch, tmp_path / "home")
    shutil.copytree(template, home)
    damage, expected = DAMAGE[request.param]
    damage(home / "agents" / "hurt")
    return home, expected


def check_refusal(text: str, expected: str) -> None:
    assert "Traceback" not in text
    assert "Agent 'hurt'" in text and expected in text and "memgpt-tui doctor hurt" in text


def test_line_mode_says_one_line(damaged, server, capsys) -> None:
    home, expected = damaged
    before = contents(home / "agents" / "hurt")
    code = cli.main(["run", "--plain", "--agent", "hurt", "--base-url", server.base_url])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    check_refusal(err, expected)
    assert contents(home / "agents" / "hurt") == before


async def test_the_tui_shows_it_on_its_failure_screen(damaged, server) -> None:
    home, expected = damaged
    before = contents(home / "agents" / "hurt")
    app = MemGPTApp(settings_for(server.base_url, agent="hurt"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, FailureScreen), timeout=15)
        screen = pilot.app.screen
        assert screen.title_text == "Cannot open the agent's memory"
        check_refusal(screen.message, expected)
        await pilot.press("q")
    assert contents(home / "agents" / "hurt") == before


def test_the_client_raises_a_client_error_and_other_agents_work(damaged, server) -> None:
    home, expected = damaged
    before = contents(home / "agents" / "hurt")
    with Client(base_url=server.base_url) as client:
        with pytest.raises(ClientError) as refused:
            client.user_message("hurt", "hi")
        check_refusal(str(refused.value), expected)
        assert any(d.get("assistant_message") == "ok" for d in client.user_message("fine", "hi"))
    assert contents(home / "agents" / "hurt") == before


def test_doctor_names_the_damage_and_repairs_it(damaged, server, capsys) -> None:
    home, expected = damaged
    folder = home / "agents" / "hurt"
    before = contents(folder)
    assert cli.main(["doctor", "hurt"]) == 1
    report = capsys.readouterr().out
    assert "--repair" in report and contents(folder) == before  # looking changes nothing
    assert cli.main(["doctor", "hurt", "--repair"]) == 0
    report = capsys.readouterr().out
    [aside] = folder.glob("doctor-*")
    assert str(aside) in report
    kept = {name for name in contents(aside)}
    assert kept, "what the repair replaced is kept"
    assert cli.main(["doctor", "hurt"]) == 0
    assert "nothing damaged" in capsys.readouterr().out
    with Client(base_url=server.base_url) as client:
        assert client.user_message("hurt", "are you well?")


def unreadable_preview(agent: Path) -> None:
    (agent / "preview.json").write_text("{not json")


def text_index_files_gone(agent: Path) -> None:
    for index in (agent / "messages.lance" / "_indices").iterdir():
        for file in index.iterdir():
            file.unlink()


def a_torn_journal_segment(agent: Path) -> None:
    (agent / "journal" / "000000000999.log").write_bytes(b'0badc0de {"op": "mess')


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (unreadable_preview, "preview.json cannot be read"),
        (text_index_files_gone, "the text index of table messages cannot be used"),
        (a_torn_journal_segment, "000000000999.log (21 bytes) cannot be read"),
    ],
)
def test_doctor_on_damage_the_app_itself_gets_past(template, tmp_path, monkeypatch, capsys, damage, problem):
    home = isolate(monkeypatch, tmp_path / "home")
    shutil.copytree(template, home)
    damage(home / "agents" / "hurt")
    assert cli.main(["doctor", "hurt"]) == 1
    assert problem in capsys.readouterr().out
    assert cli.main(["doctor", "hurt", "--repair"]) == 0
    assert cli.main(["doctor", "hurt"]) == 0
    assert "nothing damaged" in capsys.readouterr().out


def test_doctor_finds_a_new_agents_journal_no_damage_and_repairs_a_torn_end_into_its_tables(
    template, tmp_path, monkeypatch, server, capsys
):
    home = isolate(monkeypatch, tmp_path / "home")
    shutil.copytree(template, home)
    folder = home / "agents" / "new"
    assert not list(folder.glob("*.lance"))  # its tables are made when it is next opened
    assert cli.main(["doctor", "new"]) == 0
    assert "nothing damaged" in capsys.readouterr().out
    a_torn_journal_segment(folder)
    assert cli.main(["doctor", "new"]) == 1
    assert "000000000999.log (21 bytes) cannot be read" in capsys.readouterr().out
    assert cli.main(["doctor", "new", "--repair"]) == 0
    assert len(list(folder.glob("*.lance"))) == 5 and not list((folder / "journal").glob("*.log"))
    assert cli.main(["doctor", "new"]) == 0
    assert "nothing damaged" in capsys.readouterr().out
    with Client(base_url=server.base_url) as client:
        assert client.search_recall("new", "hello")["total"] >= 1  # the journal's steps, in its tables


def test_doctor_refuses_an_agent_open_elsewhere(template, tmp_path, monkeypatch, server, capsys):
    home = isolate(monkeypatch, tmp_path / "home")
    shutil.copytree(template, home)
    with Client(base_url=server.base_url) as client:
        client.get_core_memory("fine")  # opens it
        assert cli.main(["doctor", "fine", "--repair"]) == 2
    assert "open in another memgpt-tui" in capsys.readouterr().err
    assert not list((home / "agents" / "fine").glob("doctor-*"))


def test_a_file_the_system_refuses_is_a_client_error_too(tmp_path, monkeypatch, server):
    blocked = isolate(monkeypatch, tmp_path / "home")  # the Client sets it: restored after the test
    blocked.write_text("a file where the home belongs")
    client = Client(home=blocked, backend="openai-compatible", base_url=server.base_url, model="fake")
    with pytest.raises(ClientError, match="cannot use .*home.*MEMGPT_TUI_HOME") as refused:
        client.create_agent("x")
    assert isinstance(refused.value.__cause__, OSError)


def test_doctor_reaches_a_server_users_agent_and_repairs_it_twice_in_a_second(
    template, tmp_path, monkeypatch
):
    home = isolate(monkeypatch, tmp_path / "home")
    shutil.copytree(template, home)
    with Accounts(None, home, str(home / "agents")) as accounts:
        accounts.add_user("alice")
        record = accounts.adopt("alice", "hurt")
    folder = Path(record.root) / record.dir
    for damage in (a_file_for_the_journal, a_directory_for_the_lock):
        damage(folder)
        assert cli.main(["doctor", "--user", "alice", "hurt", "--repair"]) == 0
    assert cli.main(["doctor", "--user", "alice", "hurt"]) == 0
    assert len(list(folder.glob("doctor-*"))) == 2
    assert cli.main(["doctor", "--user", "bob", "hurt"]) == 2
