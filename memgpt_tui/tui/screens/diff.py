"""A block's last edit by the agent, as a unified diff."""

from __future__ import annotations

import difflib

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

LINE_STYLES = {"+": "$success", "-": "$error", "@": "$accent"}


def diff_content(old: str, new: str) -> Content:
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), "before", "after", lineterm=""))
    if not lines:
        return Content("No change.")
    out = []
    for line in lines:
        style = LINE_STYLES.get(line[:1], "") if not line.startswith(("+++", "---")) else "bold"
        out.append(Content.styled(line, style) if style else Content(line))
    return Content("\n").join(out)


class DiffScreen(ModalScreen[None]):
    CSS_PATH = "diff.tcss"
    BINDINGS = [Binding("escape,q,d", "dismiss", "Close", id="diff.close")]

    def __init__(self, label: str, old: str, new: str) -> None:
        super().__init__()
        self.label, self.old, self.new = label, old, new

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="diff") as box:
            box.border_title = f"{self.label}: the agent's last edit"
            box.border_subtitle = "Esc closes"
            yield Static(diff_content(self.old, self.new))
