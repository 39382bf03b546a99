"""The core memory pane: every block with a chars/limit bar, edited inline, flashing on agent edits.

Each block also has a one-line form (label, bar, the start of its value) that narrow screens show
instead of the whole block: the stylesheet picks one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Static, TextArea

from ...model import events as ev
from ..messages import EngineMessage, message_for

if TYPE_CHECKING:
    from ...model.handle import AgentHandle
    from ...model.state import Block

BAR_WIDTH = 12
LINE_BAR_WIDTH = 6
LINE_LABEL_WIDTH = 7  # "persona": the one-line forms of the usual blocks line up
FLASH_SECONDS = 2.0


def usage_bar(used: int, limit: int, width: int = BAR_WIDTH) -> Content:
    """``━━━━────  412/2000``, coloured by how full the block is."""
    fraction = min(used / limit, 1.0) if limit else 1.0
    filled = round(fraction * width)
    colour = "$error" if used > limit else "$warning" if fraction >= 0.8 else "$success"
    return Content.from_markup(
        f"[{colour}]{'━' * filled}[/][$foreground 30%]{'─' * (width - filled)}[/] $count",
        count=f"{used}/{limit}",
    )


class BlockView(Vertical, can_focus=True):
    """One block. Enter/e/click edits in a TextArea; ctrl+s saves; Esc cancels; d shows the last agent edit."""

    BINDINGS = [
        Binding("enter,e", "edit", "Edit block", id="block.edit"),
        Binding("d", "diff", "Show agent edit", id="block.diff"),
        Binding("ctrl+s", "save", "Save", id="block.save"),
        Binding("escape", "cancel", "Cancel edit", id="block.cancel"),
    ]

    class SaveRequested(Message):
        def __init__(self, view: BlockView, value: str) -> None:
            super().__init__()
            self.view = view
            self.value = value

    def __init__(self, block: Block) -> None:
        super().__init__(classes="block")
        self.label = block.label
        self.value = block.value
        self.limit = block.limit
        self.read_only = block.read_only
        self.last_agent_edit: tuple[str, str] | None = None
        self.editor: TextArea | None = None
        self._line = Static(classes="block-line")
        self._header = Static(classes="block-header")
        self._body = Static(classes="block-body")
        # A long block scrolls inside a few lines, so every block keeps a place on screen.
        self._scroll = VerticalScroll(self._body, classes="block-scroll", can_focus=False)
        self._status = Static(classes="block-status")
        self._full = Vertical(classes="block-full")

    def compose(self) -> ComposeResult:
        yield self._line
        with self._full:
            yield self._header
            yield self._scroll
            yield self._status

    def on_mount(self) -> None:
        self._render_value()

    # ----------------------------------------------------------------- display

    def _render_value(self) -> None:
        used = len(self.editor.text) if self.editor else len(self.value)
        lock = "  read-only for the agent" if self.read_only else ""
        label = Content.from_markup("[b]$label[/]  ", label=self.label)
        self._header.update(label + usage_bar(used, self.limit) + lock)
        start = " ".join(self.value.split()) or "(empty)"
        padded = Content.from_markup("[b]$label[/] ", label=self.label.ljust(LINE_LABEL_WIDTH))
        self._line.update(padded + usage_bar(used, self.limit, LINE_BAR_WIDTH) + Content(f"  {start}"))
        self._body.update(Content(self.value or "(empty)"))
        self._body.set_class(not self.value, "-empty")
        self.set_class(used > self.limit, "-over")
        if self.editor is None:
            hint = "d: see the agent's last edit" if self.last_agent_edit else ""
            self.set_status(hint)

    def set_status(self, text: str, error: bool = False) -> None:
        self._status.update(Content(text))
        self._status.display = bool(text)
        self._status.set_class(error, "-error")

    def set_value(self, value: str, old: str, by: str) -> None:
        self.value = value
        if by in ("agent", "restore"):
            self.last_agent_edit = (old, value)
            self.flash()
        self._render_value()
        if self.editor is not None and by != "user":
            self.set_status(
                "Changed by the agent while you edit: ctrl+s overwrites it, d shows its edit.", error=True
            )

    def flash(self) -> None:
        self.add_class("-flash")
        self.set_timer(FLASH_SECONDS, lambda: self.remove_class("-flash"))

    # ----------------------------------------------------------------- editing

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        editing = self.editor is not None
        if action in ("save", "cancel"):
            return editing
        if action == "diff":
            return not editing and self.last_agent_edit is not None
        if action == "edit":
            return not editing
        return True

    async def action_edit(self) -> None:
        if self.editor is not None:
            return
        self.editor = TextArea(self.value, soft_wrap=True, classes="block-editor")
        self._scroll.display = False
        await self._full.mount(self.editor, after=self._header)
        self.editor.focus()
        self.editor.move_cursor(self.editor.document.end)
        # once laid out (the pane may still be growing): the block being edited is in view, from its top
        self.call_after_refresh(self.scroll_visible, animate=False, top=True)
        self.set_status(f"ctrl+s save · esc cancel · limit {self.limit} characters")
        self.refresh_bindings()

    def action_save(self) -> None:
        if self.editor is not None:
            self.set_status("Saving…")
            self.post_message(self.SaveRequested(self, self.editor.text))

    async def action_cancel(self) -> None:
        await self.stop_editing()
        self.focus()

    def action_diff(self) -> None:
        from ..screens.diff import DiffScreen

        if self.last_agent_edit is not None:
            self.app.push_screen(DiffScreen(self.label, *self.last_agent_edit))

    async def stop_editing(self) -> None:
        if self.editor is not None:
            editor, self.editor = self.editor, None
            await editor.remove()
        self._scroll.display = True
        self._render_value()
        self.refresh_bindings()

    @on(TextArea.Changed, ".block-editor")
    def _edited(self) -> None:
        self._render_value()

    def on_click(self) -> None:
        if self.editor is None:
            self.run_worker(self.action_edit(), exclusive=True, group="edit")


class CoreMemoryPane(VerticalScroll):
    BORDER_TITLE = "Core memory"

    def __init__(self, agent: AgentHandle, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.agent = agent

    def compose(self) -> ComposeResult:
        for block in self.agent.snapshot().blocks:
            yield BlockView(block)

    def view(self, label: str) -> BlockView | None:
        return next((v for v in self.query(BlockView) if v.label == label), None)

    async def sync(self) -> None:
        """Match the views to the agent's blocks (a restore may add or remove some)."""
        blocks = self.agent.snapshot().blocks
        labels = [b.label for b in blocks]
        for stale in [v for v in self.query(BlockView) if v.label not in labels]:
            await stale.remove()
        for block in blocks:
            view = self.view(block.label)
            if view is None:
                await self.mount(BlockView(block))
            elif view.value != block.value and view.editor is None:
                view.set_value(block.value, view.value, "restore")

    @on(message_for(ev.CoreMemoryChanged))
    async def _memory_changed(self, message: EngineMessage[ev.CoreMemoryChanged]) -> None:
        change = message.event
        view = self.view(change.label)
        if view is None:
            await self.sync()
            return
        view.set_value(change.new, change.old, change.by)
        if change.by != "user" and not any(v.editor for v in self.query(BlockView)):
            view.scroll_visible(animate=False)  # the flash should be seen

    @on(message_for(ev.HistoryChanged))
    async def _history_changed(self) -> None:
        await self.sync()

    @on(BlockView.SaveRequested)
    def _save_requested(self, message: BlockView.SaveRequested) -> None:
        self.run_worker(self._save(message.view, message.value), group="save")

    async def _save(self, view: BlockView, value: str) -> None:
        from ...model.errors import AgentError

        try:
            await self.agent.update_block(view.label, value)
        except AgentError as exc:
            view.set_status(f"{exc} Nothing was saved; your text is still here.", error=True)
            return
        await view.stop_editing()
        view.focus()
