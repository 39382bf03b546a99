"""A wrong token, and a server speaking another version of our API: one clear line in the TUI, in line
mode and from the Client."""

from __future__ import annotations

import subprocess
import sys

import pytest
from textual.widgets import Button, Static

from memgpt_tui.client import Client, ClientError
from memgpt_tui.config import Settings
from memgpt_tui.remote import connection, home
from memgpt_tui.tui.app import MemGPTApp
from memgpt_tui.tui.screens.failure import FailureScreen
from tests.fakes.openai_server import unused_port
from tests.server.harness import server_env, start
from tests.server.test_users_apart import add_users
from tests.tui.hosting import SIZE, isolate, wait_until


@pytest.fixture(scope="module")
def guarded(tmp_path_factory, fake):
    """A server with a user: a token is needed."""
    server_home = tmp_path_factory.mktemp("guarded")
    server_home.chmod(0o700)
    add_users(server_home, "alice")
    served = start(server_home, fake)
    yield served
    served.stop()


async def failure_shown(monkeypatch, tmp_path, url: str, token: str | None, agent: str | None = None) -> str:
    """The failure screen's title, text and buttons."""
    isolate(monkeypatch, tmp_path / "client-home")
    app = MemGPTApp(Settings.load(agent=agent), source=home.Server(url, token))
    async with app.run_test(size=SIZE) as pilot:

        def shown_whole() -> bool:  # its last button is composed last
            return isinstance(app.screen, FailureScreen) and bool(app.screen.query("#quit"))

        await wait_until(pilot, shown_whole, 15)
        title = str(app.screen.query_one("#failure").border_title)
        shown = [str(w.render()) for w in app.screen.query(Static)]
        text = "\n".join([title, *shown, *(str(b.label) for b in app.screen.query(Button))])
        await pilot.press("q")
    return text


async def test_a_wrong_token_is_one_line_in_the_tui(guarded, monkeypatch, tmp_path):
    shown = await failure_shown(monkeypatch, tmp_path, guarded.url, "not-the-token")
    assert shown.startswith("The server refused\n")
    assert f"The server at {guarded.url} refused the token: check --token." in shown
    assert "Traceback" not in shown
    assert "Choose another agent" not in shown  # the list would be refused too


def test_a_wrong_token_is_one_line_in_line_mode_and_the_client(guarded, fake, tmp_path):
    env = server_env(tmp_path / "client-home", fake)
    done = subprocess.run(
        [sys.executable, "-m", "memgpt_tui", "run", "--plain", "--server", guarded.url, "--token", "wrong"],
        input="Hi\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    said = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode != 0
    assert said == [f"memgpt-tui: The server at {guarded.url} refused the token: check --token."], said
    with pytest.raises(ClientError, match="refused the token: check --token"):
        Client(home=tmp_path / "client-home", server=guarded.url, token="wrong").list_agents()


async def test_another_api_version_says_so(served, monkeypatch, tmp_path):
    """This memgpt-tui as if it were a newer one: the server's /v1/health/ names its own version."""
    monkeypatch.setattr(connection, "API_VERSION", "2")
    shown = await failure_shown(monkeypatch, tmp_path, served.url, None)
    assert (
        f"The server at {served.url} speaks version 1 of memgpt-tui's API and this memgpt-tui version 2"
        in (" ".join(shown.split()))
    )
    with pytest.raises(ClientError, match="speaks version 1 of memgpt-tui's API"):
        Client(home=tmp_path / "client-home", server=served.url).list_agents()


async def test_no_server_at_the_address_says_so(monkeypatch, tmp_path):
    url = f"http://127.0.0.1:{unused_port()}"
    shown = await failure_shown(monkeypatch, tmp_path, url, None)
    assert shown.startswith("Cannot reach the server\n") and url in shown
    assert "Traceback" not in shown
    assert "Choose another agent" not in shown


async def test_an_agent_the_server_does_not_have_offers_the_others(served, monkeypatch, tmp_path):
    shown = await failure_shown(monkeypatch, tmp_path, served.url, None, agent="nobody")
    assert shown.startswith("The server refused\n")
    assert f"No agent named 'nobody' on {served.url}" in shown
    assert "Choose another agent" in shown
