"""Import agents from a path: a memgpt-tui export, a Letta Agent File or a MemGPT CLI home."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

if TYPE_CHECKING:
    from ...config import Settings
    from ...model.handle import AgentSource


class ImportModal(ModalScreen["list[str]"]):
    """Asks for a path (and a new name), imports, shows what was found and what was not carried over.
    Dismisses with the names of the agents it created (none when cancelled or failed)."""

    CSS_PATH = ["modals.tcss", "importing.tcss"]
    BINDINGS = [Binding("escape", "done", "Close", id="import.close")]

    def __init__(self, settings: Settings | None = None, source: AgentSource | None = None) -> None:
        """``source``: a server to import onto (one file: our export or a Letta Agent File)."""
        super().__init__()
        self.settings = settings
        self.source = source
        self.imported: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog importing"):
            if self.source is None:
                question = "Import agents from a MemGPT home (~/.memgpt), a Letta Agent File (.af) or a memgpt-tui export."
            else:
                question = f"Import an agent onto {self.source.where} from a memgpt-tui export (.zip) or a Letta Agent File (.af)."
            yield Static(question, classes="question", markup=False)
            yield Input(placeholder="path, e.g. ~/.memgpt", id="import-path")
            agents = Input(
                placeholder="only these agents of it, comma-separated (optional)", id="import-agents"
            )
            agents.display = self.source is None
            yield agents
            yield Input(placeholder="new name (optional, one agent only)", id="import-name")
            yield Static("", id="import-result", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Import", variant="primary", id="import")
                yield Button("Close (esc)", id="close")

    def on_mount(self) -> None:
        self.query_one("#import-path", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#import")
    def _start(self) -> None:
        path = self.query_one("#import-path", Input).value.strip()
        if not path:
            self._show("Type the path to import first.", error=True)
            return
        agents = [a.strip() for a in self.query_one("#import-agents", Input).value.split(",") if a.strip()]
        self._import(path, self.query_one("#import-name", Input).value.strip() or None, agents)

    @work(exclusive=True, group="import")
    async def _import(self, path: str, name: str | None, agents: list[str]) -> None:
        self.query_one("#import", Button).disabled = True
        self._show(f"Importing {path} ...")
        try:
            if self.source is not None:
                names = [await self.source.import_file(Path(path), name)]
                lines = [f"Imported {names[0]!r} on {self.source.where}."]
            else:
                lines, names = await asyncio.to_thread(self._run, path, name, agents)
        except Exception as exc:  # a bad path or file: the message says why, in one line
            self._show(str(exc), error=True)
            return
        finally:
            self.query_one("#import", Button).disabled = False
        self.imported += names
        self._show("\n".join(lines))

    def _run(self, path: str, name: str | None, agents: list[str]) -> tuple[list[str], list[str]]:
        """Runs in a thread: the runtime is slow to import the first time, and imports embed."""
        from ... import runtime
        from ...config import Settings

        report = runtime.import_agent(self.settings or Settings.load(), path, name, agents)
        return runtime.import_lines(report), [a.name for a in report.agents]

    def _show(self, text: str, *, error: bool = False) -> None:
        result = self.query_one("#import-result", Static)
        result.set_class(error, "error")
        result.update(text)

    @on(Button.Pressed, "#close")
    def action_done(self) -> None:
        self.dismiss(self.imported)
