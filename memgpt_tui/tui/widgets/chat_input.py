"""The message input: multi-line, history on up/down, slash-command completion on Tab."""

from __future__ import annotations

import os

from textual import events, on
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea

HUGE_PASTE = 20_000


def common_prefix(names: list[str]) -> str:
    return os.path.commonprefix(names) if names else ""


class ChatInput(TextArea):
    BINDINGS = [
        Binding("shift+enter,ctrl+j", "newline", "Newline", show=False, id="input.newline"),
    ]

    class Submitted(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class CommandTyped(Message):
        """The input holds a slash command being typed (``prefix``), or stopped holding one (None)."""

        def __init__(self, prefix: str | None) -> None:
            super().__init__()
            self.prefix = prefix

    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            soft_wrap=True,
            tab_behavior="focus",
            placeholder="Message the agent, or / for commands",
            **kwargs,  # type: ignore[arg-type]
        )
        self.past: list[str] = []
        self._index: int | None = None  # position while browsing history
        self._draft = ""  # what was typed before browsing started
        self._prefix: str | None = None

    # ---------------------------------------------------------------- keys

    # Textual calls the handlers of every class in the MRO: ours run first, TextArea's after them
    # unless prevent_default() stops it, so none of these call super().

    async def _on_key(self, event: events.Key) -> None:
        row, last = self.cursor_location[0], self.document.line_count - 1
        handled = True
        if event.key == "enter":
            self.submit()
        elif event.key == "tab" and self.command_word() == self.text:
            self.complete()
        elif event.key == "up" and row == 0 and self.past and self.selection.is_empty:
            self.history_back()
        elif event.key == "down" and row == last and self._index is not None and self.selection.is_empty:
            self.history_forward()
        else:
            handled = False
        if handled:
            event.stop()
            event.prevent_default()
        elif await self._run_own_binding(event.key):
            event.stop()  # TextArea's handler still runs: it restarts the cursor blink

    async def _run_own_binding(self, key: str) -> bool:
        """Run this input's binding for ``key`` (backspace, arrows...) now, in order with the characters
        typed around it. Textual runs it once the key has bubbled up to the app: under load a character
        typed just after a backspace was inserted first, then deleted (Textual issue #6605)."""
        for binding in self._bindings.key_to_bindings.get(key, []):
            if not binding.priority and await self.app.run_action(binding.action, self):
                return True
        return False

    def action_newline(self) -> None:
        self.insert("\n")

    async def _on_paste(self, event: events.Paste) -> None:
        if len(event.text) > HUGE_PASTE:
            self.notify(
                f"Pasted {len(event.text):,} characters: a long message fills the context window fast.",
                severity="warning",
            )

    # ------------------------------------------------------------- sending

    def submit(self) -> None:
        text = self.text
        if not text.strip():
            return
        if not self.past or self.past[-1] != text:
            self.past.append(text)
        self._index = None
        self._draft = ""
        self.clear()
        self.post_message(self.Submitted(text))

    def restore(self, text: str) -> None:
        """Put back text whose sending was cancelled, ahead of anything typed since."""
        current = self.text
        self.load_text(f"{text}\n{current}" if current.strip() else text)
        self.move_cursor(self.document.end)

    # ------------------------------------------------------------- history

    def history_back(self) -> None:
        if self._index is None:
            self._draft = self.text
            self._index = len(self.past) - 1
        else:
            self._index = max(self._index - 1, 0)
        self._show(self.past[self._index])

    def history_forward(self) -> None:
        assert self._index is not None
        self._index += 1
        if self._index >= len(self.past):
            self._index = None
            self._show(self._draft)
        else:
            self._show(self.past[self._index])

    def _show(self, text: str) -> None:
        self.load_text(text)
        self.move_cursor(self.document.end)

    # ---------------------------------------------------------- completion

    def command_word(self) -> str | None:
        """The slash command being typed (its first word), if the input holds one."""
        text = self.text
        if not text.startswith("/") or "\n" in text:
            return None
        return text.split(" ", 1)[0]

    def complete(self) -> None:
        from ...commands import complete

        matches = complete(self.text)
        if not matches:
            self.app.bell()
            return
        if len(matches) == 1:
            command = matches[0]
            text = command.name + (" " if command.args else "")
        else:
            text = common_prefix([c.name for c in matches])
        self._show(text)

    @on(TextArea.Changed)
    def _changed(self) -> None:
        prefix = self.command_word()
        if prefix != self._prefix:
            self._prefix = prefix
            self.post_message(self.CommandTyped(prefix))
