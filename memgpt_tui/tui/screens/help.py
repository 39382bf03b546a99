"""Help: every key and every slash command, generated from the bindings (with the user's keymap) and
the command registry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.dom import DOMNode
from textual.screen import ModalScreen
from textual.widgets import Static

# Keys handled in code rather than by bindings.
INPUT_KEYS = (
    ("enter", "Send the message or command"),
    ("up", "Previous input (on the first line)"),
    ("down", "Next input (on the last line)"),
    ("tab", "Complete a slash command, or move to the next pane"),
)


class HelpScreen(ModalScreen[None]):
    CSS_PATH = "help.tcss"
    BINDINGS = [Binding("escape,f1,q,question_mark", "dismiss", "Close", id="help.close")]

    def __init__(self, main: Sequence[type[DOMNode]], unavailable: Mapping[str, str] | None = None) -> None:
        """``main``: the main screen's and the app's classes, whose keys head the list; ``unavailable``:
        what the agent does not offer (an agent on a server), with why."""
        super().__init__()
        self.main = main
        self.unavailable = unavailable or {}

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help") as box:
            box.border_title = "Help"
            box.border_subtitle = "Esc closes"
            if self.unavailable:
                rows = [(name, why, "") for name, why in self.unavailable.items()]
                yield Static(_table("Not offered by the server", rows), id="help-unavailable")
            yield Static(self._keys(), id="help-keys")
            yield Static(self._commands(), id="help-commands")

    def _keys(self) -> Content:
        from ..keymap import keys_shown
        from ..widgets.chat_input import ChatInput
        from ..widgets.conversation import Conversation
        from ..widgets.core_memory import BlockView
        from ..widgets.find_bar import FindInput

        keymap: dict[str, str] = getattr(self.app, "keymap", {})

        def rows(*classes: type[DOMNode], extra: tuple[tuple[str, str], ...] = ()) -> list[Row]:
            out = [(self._key(key), what, "") for key, what in extra]
            for binding, keys in (shown for cls in classes for shown in keys_shown(cls, keymap)):
                in_force = " / ".join(self._key(k) for k in keys) or "(no key)"
                out.append((in_force, binding.description, binding.id or ""))
            return out

        return Content("\n").join(
            [
                _table("Main screen", rows(*self.main)),
                _table("Input", rows(ChatInput, extra=INPUT_KEYS)),
                _table("Conversation (focused: Tab, or a click)", rows(Conversation)),
                _table("Find in the conversation", rows(FindInput)),
                _table("Core memory block (focused)", rows(BlockView)),
            ]
        )

    def _key(self, key: str) -> str:
        return self.app.get_key_display(Binding(key, ""))

    def _commands(self) -> Content:
        from ...commands import COMMANDS

        return _table("Commands", [(f"{c.name} {c.args}".strip(), c.help, "") for c in COMMANDS])


Row = tuple[str, str, str]  # keys, what they do, the binding id a keymap rebinds them by


def _table(title: str, rows: list[Row]) -> Content:
    width = max(len(k) for k, _, _ in rows)
    described = max(len(w) for _, w, _ in rows)
    lines = [Content.from_markup("[b $accent]$title[/]\n", title=title)]
    lines += [
        Content.from_markup(
            "[b]$key[/]  $what  [dim]$id[/]\n", key=key.ljust(width), what=what.ljust(described), id=id_
        )
        for key, what, id_ in rows
    ]
    return Content.assemble(*lines)
