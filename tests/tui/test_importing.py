"""The agent picker's "Import ...": a MemGPT home comes in, the report shows, the new agents are listed."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

from memgpt_tui import runtime
from memgpt_tui.config import Settings
from memgpt_tui.tui.screens.importing import ImportModal
from memgpt_tui.tui.screens.picker import AgentPicker
from tests.fakes.openai_server import FakeOpenAIServer
from tests.transfer.homes import set_embedding
from tests.tui.hosting import SIZE, HostApp, wait_until

pytestmark = pytest.mark.usefixtures("home")
FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "memgpt-0.3.25-home.tar.xz"


def _result(app: HostApp) -> Static:
    return app.screen.query_one("#import-result", Static)


async def test_import_from_the_picker(tmp_path: Path) -> None:
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(tmp_path, filter="data")
    settings = Settings.load()
    app = HostApp(lambda: AgentPicker([], settings))
    with FakeOpenAIServer() as embeddings:  # the home's agents keep their embedding endpoint
        set_embedding(tmp_path / ".memgpt", embedding_endpoint=embeddings.base_url)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, AgentPicker))
            await pilot.press("i")
            await wait_until(pilot, lambda: isinstance(app.screen, ImportModal))

            app.screen.query_one("#import-path", Input).value = str(tmp_path / "nowhere")
            await pilot.press("enter")
            await wait_until(pilot, lambda: _result(app).has_class("error"))
            assert "No such file or directory" in str(_result(app).render())

            app.screen.query_one("#import-path", Input).value = str(tmp_path / ".memgpt")
            app.screen.query_one("#import-name", Input).value = "ada"
            await pilot.press("enter")
            await wait_until(pilot, lambda: "pick one" in str(_result(app).render()), timeout=60)
            assert runtime.agent_infos(settings) == []  # nothing half-created

            app.screen.query_one("#import-name", Input).value = ""
            await pilot.press("enter")
            await wait_until(pilot, lambda: "Imported" in str(_result(app).render()), timeout=60)
            shown = str(_result(app).render())
            assert "Found a MemGPT 0.3.25 home." in shown and "never copies keys" in shown
            assert not _result(app).has_class("error")

            await pilot.press("escape")
            await wait_until(pilot, lambda: isinstance(app.screen, AgentPicker))
            table = app.screen.query_one(DataTable)
            await wait_until(pilot, lambda: table.row_count == 2)
            assert table.get_row_at(table.cursor_row)[0] == "ada_companion"
    assert sorted(i.name for i in runtime.agent_infos(settings)) == ["Quiet_Helper", "ada_companion"]
