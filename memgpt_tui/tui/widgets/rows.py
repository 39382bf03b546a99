"""The rows of the conversation pane. Each row remembers the message it came from (``source_id``)."""

from __future__ import annotations

import json
from typing import overload

from textual.content import Content
from textual.geometry import Region
from textual.markup import escape  # Collapsible titles are parsed as markup
from textual.visual import Visual
from textual.widget import Widget
from textual.widgets import Collapsible, Static

from ..transcript import (
    Entry,
    ErrorEntry,
    ReplyEntry,
    SystemEntry,
    SystemKind,
    ThoughtEntry,
    ToolEntry,
    UserEntry,
)
from .streaming import StreamingMarkdown

ICONS: dict[SystemKind, str] = {
    "heartbeat": "♥",
    "login": "→",
    "warning": "⚠",
    "alert": "!",
    "summary": "⋯",
    "notice": "·",
    "command": "❯",
    "output": "",
    "divider": "",
}
TITLE_ARGS = 60


class UserRow(Static):
    def __init__(self, text: str, source_id: str | None = None) -> None:
        super().__init__(Content.from_markup("[b $accent]You[/]  $text", text=text), classes="row")
        self.text = text
        self.source_id = source_id

    def copy_text(self) -> str:
        return self.text


class ThoughtRow(Static):
    """Inner monologue: private to the agent, shown dimmed. Grows while thought tokens stream in."""

    def __init__(self, text: str = "", source_id: str | None = None) -> None:
        super().__init__(classes="row")
        self.source_id = source_id
        self.set_text(text)

    def set_text(self, text: str) -> None:
        self.text = text
        self.update(Content(f"∴ {text.strip()}"))

    def add(self, fragment: str) -> None:
        self.set_text(self.text + fragment)

    def copy_text(self) -> str:
        return self.text.strip()


class ReplyRow(Widget):
    """What the agent said to the user (send_message) as Markdown; grows in place while it streams.

    One widget rendering Rich's Markdown, not Textual's Markdown widget tree: a page of history mounts
    dozens of replies. While it streams, only the block being written is rendered again
    (``StreamingMarkdown``), the screen is laid out again only when the row needs more lines (it grows
    several at a time), and otherwise only the lines that changed are repainted.
    """

    DEFAULT_CSS = "ReplyRow { height: auto; }"

    def __init__(self, name: str, text: str = "", source_id: str | None = None) -> None:
        super().__init__(classes="row")
        self.source_id = source_id
        self._body = StreamingMarkdown(self, name, text)

    @property
    def text(self) -> str:
        return self._body.text

    def render(self) -> Visual:
        return self._body

    def copy_text(self) -> str:
        return self.text

    def add(self, fragment: str) -> None:
        self._update(self.text + fragment, streaming=True)

    def finish(self, text: str) -> None:
        """The final text replaces whatever was streamed, rendered whole."""
        self._update(text, streaming=False)

    def _update(self, text: str, streaming: bool) -> None:
        width, height = self.content_size
        before = self._body.lines(width, self.visual_style) if width else []  # as on screen
        self._body.text, self._body.streaming = text, streaming
        after = self._body.lines(width, self.visual_style) if width else []
        if not width or len(before) != height or len(after) != height:
            self.refresh(layout=True)
            return
        # Same height: repaint only the lines that changed, usually the last one or two.
        changed = [y for y, (old, new) in enumerate(zip(before, after, strict=True)) if old != new]
        if changed:
            self.refresh(Region(0, changed[0], width, changed[-1] - changed[0] + 1))


class ToolRow(Collapsible):
    """A function call and its result; collapsed by default, failures marked."""

    def __init__(self, entry: ToolEntry) -> None:
        self.entry = entry
        self.source_id = entry.source_id
        self._body = Static(classes="tool-body")
        super().__init__(self._body, title=self._heading(), collapsed=True, classes="row")
        self.set_class(entry.ok is False, "-failed")
        self._refresh_body()

    def set_result(self, ok: bool, result: str) -> None:
        self.entry.ok, self.entry.result = ok, result
        self.title = self._heading()
        self.set_class(not ok, "-failed")
        self._refresh_body()

    def _heading(self) -> str:
        entry = self.entry
        args = ", ".join(
            f"{k}={json.dumps(v, ensure_ascii=False)}"
            for k, v in entry.arguments.items()
            if k != "request_heartbeat"  # noise in a one-line title; the body shows it
        )
        if len(args) > TITLE_ARGS:
            args = args[: TITLE_ARGS - 1] + "…"
        status = {None: "…", True: "ok", False: "failed"}[entry.ok]
        return escape(f"{entry.name}({args})  {status}")

    def copy_text(self) -> str:
        """The call and its result, as the expanded row shows them."""
        entry = self.entry
        arguments = json.dumps(entry.arguments, indent=2, ensure_ascii=False)
        text = f"{entry.name}\narguments:\n{arguments}"
        if entry.result is not None:
            text += f"\nresult ({'ok' if entry.ok else 'failed'}):\n{entry.result}"
        return text

    def _refresh_body(self) -> None:
        entry = self.entry
        parts = [Content.styled("arguments\n", "bold")]
        parts.append(Content(json.dumps(entry.arguments, indent=2, ensure_ascii=False)))
        if entry.result is not None:
            parts.append(Content.styled("\nresult\n", "bold"))
            parts.append(Content(entry.result))
        self._body.update(Content.assemble(*parts))


class SystemRow(Static):
    """Heartbeats, login, warnings, alerts, notices and command output."""

    def __init__(self, kind: SystemKind, text: str, source_id: str | None = None) -> None:
        icon = ICONS[kind]
        super().__init__(Content(f"{icon} {text}" if icon else text), classes=f"row system -{kind}")
        self.kind = kind
        self.source_id = source_id
        self._plain = text

    def copy_text(self) -> str:
        return self._plain


class ErrorRow(Static):
    def __init__(self, text: str, hint: str = "", source_id: str | None = None) -> None:
        body = Content.from_markup("[b]✗ $text[/]", text=text)
        if hint:
            body = body + Content(f"\n  {hint}")
        super().__init__(body, classes="row error")
        self.source_id = source_id
        self._plain = f"{text}\n{hint}" if hint else text

    def copy_text(self) -> str:
        return self._plain


# The live step updates these rows as events arrive, so it needs their own types back.
@overload
def row_for(entry: ThoughtEntry, agent_name: str) -> ThoughtRow: ...
@overload
def row_for(entry: ReplyEntry, agent_name: str) -> ReplyRow: ...
@overload
def row_for(entry: ToolEntry, agent_name: str) -> ToolRow: ...
@overload
def row_for(entry: Entry, agent_name: str) -> Widget: ...
def row_for(entry: Entry, agent_name: str) -> Widget:
    match entry:
        case UserEntry(text=text, source_id=source_id):
            return UserRow(text, source_id)
        case ThoughtEntry(text=text, source_id=source_id):
            return ThoughtRow(text, source_id)
        case ReplyEntry(text=text, source_id=source_id):
            return ReplyRow(agent_name, text, source_id)
        case ToolEntry():
            return ToolRow(entry)
        case SystemEntry(kind=kind, text=text, source_id=source_id):
            return SystemRow(kind, text, source_id)
        case ErrorEntry(text=text, hint=hint, source_id=source_id):
            return ErrorRow(text, hint, source_id)
    raise TypeError(entry)
