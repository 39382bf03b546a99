"""Pick an agent to open, start a new one, or delete one."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.widgets import DataTable, Static

from .importing import ImportModal
from .listing import ListScreen
from .modals import ConfirmModal

if TYPE_CHECKING:
    from ...config import Settings
    from ...model.handle import AgentSource
    from ...runtime import AgentInfo

NEW_AGENT = "__new__"
ATTACHED_NOTE = (
    "Attached to a server: imports and deletions act there. New agents are made there too "
    "(its HTTP API, or memgpt-tui on the server's machine)."
)


class AgentPicker(ListScreen[str]):
    """Dismisses with the agent's name, ``NEW_AGENT`` ("__new__") for a new one, or None (q, Esc)."""

    CSS_PATH = "picker.tcss"
    HEADING_ID = "picker-title"
    HEADING = "Agents"
    BINDINGS = [
        Binding("enter", "open", "Open", id="picker.open"),
        Binding("n", "new", "New agent", id="picker.new"),
        Binding("i", "import_agents", "Import ...", id="picker.import"),
        Binding("d,delete", "delete", "Delete", id="picker.delete"),
        Binding("q,escape", "close", "Quit", id="picker.quit"),
    ]

    def __init__(
        self, infos: list[AgentInfo], settings: Settings | None = None, source: AgentSource | None = None
    ) -> None:
        """``source``: the server the agents are on; importing and deleting act there."""
        super().__init__()
        self.source = source
        self.where = source.where if source is not None else None
        self.infos = sorted(
            infos, key=lambda i: i.last_used.timestamp() if i.last_used else 0.0, reverse=True
        )
        self.settings = settings

    def compose_list(self) -> ComposeResult:
        yield DataTable(cursor_type="row", zebra_stripes=True, id="agents")
        if self.where is None:
            yield Static("No agents yet: press n to create one, or i to import one.", id="picker-empty")
        else:
            yield Static(f"No agents of yours on {self.where} yet.", id="picker-empty")
            yield Static(Content(ATTACHED_NOTE), id="picker-attached")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.where is None or action != "new"

    def on_mount(self) -> None:
        if self.where is not None:
            self.show_heading(f"Agents on {self.where}")
        table = self.query_one(DataTable)
        table.add_columns("Name", "Model", "Last used", "Messages", "Archival")
        for info in self.infos:
            self._add_row(info)
        self._update_empty()
        table.focus()

    def _add_row(self, info: AgentInfo) -> None:
        used = f"{info.last_used.astimezone():%Y-%m-%d %H:%M}" if info.last_used else "never"
        self.query_one(DataTable).add_row(
            info.name, f"{info.backend}:{info.model}", used, info.messages, info.archival, key=info.name
        )

    def _update_empty(self) -> None:
        empty = not self.infos
        self.query_one("#picker-empty").display = empty
        self.query_one(DataTable).display = not empty

    def _selected(self) -> str | None:
        table = self.query_one(DataTable)
        if not self.infos:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def action_open(self) -> None:
        if name := self._selected():
            self.dismiss(name)

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.dismiss(str(event.row_key.value))

    def action_new(self) -> None:
        self.dismiss(NEW_AGENT)

    @work(exclusive=True, group="import")
    async def action_import_agents(self) -> None:
        names = await self.app.push_screen_wait(ImportModal(self.settings, self.source))
        if not names:
            return
        infos = await self.source.infos() if self.source else await asyncio.to_thread(self._infos)
        for info in infos:
            if info.name in names:
                self.infos.append(info)
                self._add_row(info)
        self._update_empty()
        table = self.query_one(DataTable)
        table.move_cursor(row=table.get_row_index(names[0]))
        table.focus()

    def _infos(self) -> list[AgentInfo]:
        from ... import runtime
        from ...config import Settings

        return runtime.agent_infos(self.settings or Settings.load())

    @work(exclusive=True, group="delete")
    async def action_delete(self) -> None:
        name = self._selected()
        if name is None:
            return
        question = f"Delete agent {name!r} and all its memories (recall, archival, checkpoints)? This cannot be undone."
        if not await self.app.push_screen_wait(ConfirmModal(question, "Delete", danger=True)):
            return
        try:
            if self.source is not None:
                await self.source.delete(name)
            else:
                await asyncio.to_thread(self._delete, name)
        except Exception as exc:
            self.notify(f"Could not delete {name!r}: {exc}", severity="error")
            return
        self.infos = [i for i in self.infos if i.name != name]
        self.query_one(DataTable).remove_row(name)
        self._update_empty()
        self.notify(f"Deleted {name!r}.")

    def _delete(self, name: str) -> None:
        """Runs in a thread: the runtime is slow to import the first time."""
        from ... import runtime
        from ...config import Settings

        runtime.delete_agent(self.settings or Settings.load(), name)
