"""Checkpoint history: browse every saved state, preview what a restore would change, restore or undo one.

Listing is cheap (one row per checkpoint, no state loaded); the full state of the highlighted checkpoint
is loaded lazily, after the cursor rests for a moment, so scrolling through thousands stays smooth.
"""

from __future__ import annotations

import difflib
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.timer import Timer
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ...model.records import is_restore, undo_target
from .listing import ListScreen
from .modals import ConfirmModal

if TYPE_CHECKING:
    from ...model.handle import AgentHandle
    from ...model.records import CheckpointInfo
    from ...model.state import AgentState
    from ...model.view import AgentView

PREVIEW_DELAY = 0.15  # seconds the cursor must rest before a state is loaded
CACHED_STATES = 32


@dataclass(frozen=True)
class Palette:
    """Diff colours, taken from the active theme so they stay legible on its background."""

    added: str = "green"
    removed: str = "red"
    changed: str = "yellow"

    @classmethod
    def of(cls, app: App[Any]) -> Palette:
        colours = app.theme_variables
        return cls(
            colours.get("text-success", cls.added),
            colours.get("text-error", cls.removed),
            colours.get("text-warning", cls.changed),
        )


def row(info: CheckpointInfo, head: bool, palette: Palette) -> Text:
    return Text.assemble(
        ("● " if head else "  ", "bold"),
        (f"{info.time.astimezone():%Y-%m-%d %H:%M:%S}", "dim"),
        f"  step {info.step:<5} ",
        (f"[{info.label}] " if info.label else "", f"bold {palette.changed}" if is_restore(info) else "bold"),
        info.summary,
    )


def memory_diff(then: AgentState, now: AgentView, palette: Palette) -> Text:
    """Core memory (and the summary) as restoring ``then`` would change them: − now, + at checkpoint."""
    out = Text()
    old = {b.label: b.value for b in now.blocks}
    new = {b.label: b.value for b in then.blocks}
    fields = [*old, *(label for label in new if label not in old)]
    sections = [(label, old.get(label), new.get(label)) for label in fields]
    sections.append(("summary", now.summary, then.summary))
    for label, current, past in sections:
        if current == past:
            out.append(f"{label}: unchanged\n", style="dim")
            continue
        note = " (absent then)" if past is None else " (absent now)" if current is None else ""
        out.append(f"{label}{note}\n", style="bold")
        lines = difflib.unified_diff(
            (current or "").splitlines(), (past or "").splitlines(), lineterm="", n=1
        )
        hunks = 0
        for line in list(lines)[2:]:  # skip the ---/+++ header
            if line.startswith("@@"):
                hunks += 1
                if hunks > 1:
                    out.append("  …\n", style="dim")
            else:
                style = palette.added if line[0] == "+" else palette.removed if line[0] == "-" else ""
                out.append(line + "\n", style=style)
    return out


class CheckpointBrowser(ListScreen["CheckpointInfo"]):
    """Dismisses with the new head's CheckpointInfo after a restore (or undo), or None (Esc)."""

    CSS_PATH = "checkpoints.tcss"
    HEADING_ID = "checkpoints-title"
    HEADING = "Checkpoints"
    BINDINGS = [
        Binding("escape", "close", "Close", id="checkpoints.close"),
        Binding("enter,r", "restore", "Restore", id="checkpoints.restore"),
        Binding("u", "undo", "Undo last restore", id="checkpoints.undo"),
    ]

    def __init__(self, agent: AgentHandle) -> None:
        super().__init__()
        self.agent = agent
        self.infos: list[CheckpointInfo] = []  # newest first
        self._states: OrderedDict[str, AgentState] = OrderedDict()
        self._timer: Timer | None = None

    def compose_list(self) -> ComposeResult:
        with Horizontal():
            yield OptionList(id="checkpoints")
            with VerticalScroll(id="preview"):
                yield Static("", id="preview-header", markup=False)
                yield Static("", id="preview-counts", markup=False)
                yield Static("", id="preview-diff", markup=False)

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self.load()

    @work(exclusive=True, group="list")
    async def load(self) -> None:
        try:
            infos = await self.agent.checkpoints()
        except Exception as exc:
            self.show_heading(f"Could not list checkpoints: {exc}")
            return
        self.infos = infos[::-1]
        options = self.query_one(OptionList)
        palette = Palette.of(self.app)
        options.set_options(
            Option(row(info, i == 0, palette), id=info.id) for i, info in enumerate(self.infos)
        )
        self.show_heading(
            f"Checkpoints of {self.agent.name}: {len(self.infos)}, newest first (● is the current state)"
        )
        if self.infos:
            options.highlighted = 0

    @property
    def highlighted(self) -> CheckpointInfo | None:
        index = self.query_one(OptionList).highlighted
        return self.infos[index] if index is not None and index < len(self.infos) else None

    # ---------------------------------------------------------------- preview

    @on(OptionList.OptionHighlighted)
    def _highlighted(self) -> None:
        info = self.highlighted
        if info is None:
            return
        self._show_header(info)
        if self._timer is not None:
            self._timer.stop()
        if info.id in self._states:
            self._show_diff(info.id, self._states[info.id])
        else:
            self.query_one("#preview-diff", Static).update(Text("Loading…", style="dim"))
            self._timer = self.set_timer(PREVIEW_DELAY, lambda: self._load_state(info.id))

    def _show_header(self, info: CheckpointInfo) -> None:
        head = Text.assemble(
            (f"step {info.step}", "bold"),
            f"  {info.time.astimezone():%Y-%m-%d %H:%M:%S}\n",
            (f"{info.label}\n" if info.label else "", "bold"),
            info.summary,
            "\n",
            (f"id {info.id}", "dim"),
        )
        self.query_one("#preview-header", Static).update(head)
        counts = Text("\n")
        counts.append(f"{'counts':<10}{'then':>7}{'now':>7}{'restore':>10}\n", style="bold")
        view = self.agent.snapshot()
        now = (len(view.in_context), view.recall_messages, view.archival_memories)
        then = (info.in_context, info.messages, info.archival)
        changed = Palette.of(self.app).changed
        for name, past, current in zip(("in view", "recall", "archival"), then, now, strict=True):
            delta = f"{past - current:+d}" if past != current else "="
            counts.append_text(
                Text.assemble(
                    f"{name:<10}{past:>7}{current:>7}",
                    (f"{delta:>10}", changed if past != current else "dim"),
                    "\n",
                )
            )
        self.query_one("#preview-counts", Static).update(counts)

    @work(exclusive=True, group="preview")
    async def _load_state(self, checkpoint_id: str) -> None:
        try:
            state = await self.agent.checkpoint_state(checkpoint_id)
        except Exception as exc:
            self.query_one("#preview-diff", Static).update(
                Text(f"Could not load it: {exc}", style=Palette.of(self.app).removed)
            )
            return
        self._states[checkpoint_id] = state
        while len(self._states) > CACHED_STATES:
            self._states.popitem(last=False)
        current = self.highlighted
        if current is not None and current.id == checkpoint_id:
            self._show_diff(checkpoint_id, state)

    def _show_diff(self, checkpoint_id: str, state: AgentState) -> None:
        self._states.move_to_end(checkpoint_id)
        text = Text("\nCore memory if restored (− now, + then)\n", style="bold")
        text.append_text(memory_diff(state, self.agent.snapshot(), Palette.of(self.app)))
        self.query_one("#preview-diff", Static).update(text)

    # ---------------------------------------------------------------- restore

    @on(OptionList.OptionSelected)
    def _selected(self) -> None:
        self.action_restore()

    def action_restore(self) -> None:
        info = self.highlighted
        if info is None:
            return
        if info is self.infos[0]:
            self.notify("That is the current state already.")
            return
        name = f"step {info.step}" + (f" [{info.label}]" if info.label else "")
        question = (
            f"Restore {name}?\n\nCore memory, the conversation in view, the summary, recall and archival "
            "memory go back to how they were then. The current state stays in the list, so this can be undone (u)."
        )
        self._restore(info, question)

    def action_undo(self) -> None:
        """Restore the checkpoint that was the head just before the latest restore."""
        before = undo_target(self.infos)
        if before is None:
            self.notify("No restore to undo.")
            return
        restore = self.infos[self.infos.index(before) - 1]
        question = f"Undo the restore at step {restore.step}: go back to the state just before it?"
        self._restore(before, question)

    @work(exclusive=True, group="restore")
    async def _restore(self, info: CheckpointInfo, question: str) -> None:
        if not await self.app.push_screen_wait(ConfirmModal(question, "Restore")):
            return
        self.show_heading("Restoring… (waits for a step in progress to finish)")
        try:
            head = await self.agent.restore(info.id)
        except Exception as exc:
            self.show_heading(f"Restore failed: {exc}")
            self.notify(f"Restore failed: {exc}", severity="error")
            return
        self.dismiss(head)
