"""Search the agent's recall (every message ever) and archival memory; add, edit and delete archival entries."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, OptionList, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

from .modals import ConfirmModal, TextEditModal

if TYPE_CHECKING:
    from ...model.handle import AgentHandle
    from ...model.messages import Message
    from ...model.records import Page, Passage

SNIPPET = 90
RECALL_HINT = "Type words and press Enter to search every message ever exchanged."


def stamp(moment: datetime) -> str:
    return f"{moment.astimezone():%Y-%m-%d %H:%M:%S}"


def message_text(message: Message) -> str:
    """What a person reads in a message: the human's words, the monologue and the calls, a result."""
    if (said := message.user_text()) is not None:
        return said
    parts = [message.content] if message.content else []
    for call in message.tool_calls:
        try:
            args: Any = json.loads(call.arguments)
        except ValueError:
            args = call.arguments
        if call.name == "send_message" and isinstance(args, dict) and "message" in args:
            parts.append(f"→ {args['message']}")
        else:
            parts.append(f"→ {call.name}({call.arguments})")
    return "\n".join(parts)


def _snippet(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= SNIPPET else line[: SNIPPET - 1] + "…"


class ResultsPane(Vertical):
    """Query input, one page of results, and the detail of the highlighted one."""

    def __init__(self, kind: str) -> None:
        super().__init__(id=f"{kind}-pane", classes="results-pane")
        self.kind = kind
        self.query_text = ""
        self.page = 0
        self.pages = 0
        self.items: list[Any] = []

    def compose(self) -> ComposeResult:
        hint = "messages: words, names, phrases" if self.kind == "recall" else "memories (empty: list all)"
        yield Input(placeholder=f"Search {hint}; Enter to search", id=f"{self.kind}-query", classes="query")
        with Horizontal(classes="results-row"):
            yield OptionList(id=f"{self.kind}-results", classes="results")
            with VerticalScroll(classes="detail-scroll"):
                yield Static("", id=f"{self.kind}-detail", classes="detail", markup=False)
        yield Static("", id=f"{self.kind}-status", classes="status", markup=False)
        if self.kind == "archival":
            with Horizontal(classes="archival-buttons"):
                yield Button("Add (a)", id="archival-add")
                yield Button("Edit (e)", id="archival-edit")
                yield Button("Delete (d)", id="archival-delete", variant="error")

    @property
    def results(self) -> OptionList:
        return self.query_one(OptionList)

    @property
    def selected(self) -> Any | None:
        index = self.results.highlighted
        return self.items[index] if index is not None and index < len(self.items) else None

    def status(self, text: str, error: bool = False) -> None:
        widget = self.query_one(".status", Static)
        widget.update(text)
        widget.set_class(error, "-error")

    def clear(self, hint: str) -> None:
        self.page, self.pages, self.items = 0, 0, []
        self.results.clear_options()
        self.status(hint)
        self._detail()

    def show(self, page: Page[Any], highlight: int = 0) -> None:
        self.page, self.pages, self.items = page.page, page.pages, list(page.items)
        self.results.set_options(Option(self._label(item)) for item in self.items)
        if self.items:
            self.results.highlighted = min(highlight, len(self.items) - 1)
            where = f"page {page.page + 1}/{max(page.pages, 1)}, total {page.total}"
            self.status(f"{where}   ([ ] or PgUp/PgDn for more pages)" if page.pages > 1 else where)
        else:
            self.status(
                "No results found."
                if self.query_text or self.kind == "recall"
                else "Archival memory is empty."
            )
        self._detail()

    def _label(self, item: Any) -> Text:
        if self.kind == "recall":
            label = Text.assemble(
                (f"{item.role:<10}", "bold"),
                (stamp(item.created_at), "dim"),
                " ",
                _snippet(message_text(item)),
            )
        else:
            label = Text.assemble((stamp(item.created_at), "dim"), " ", _snippet(item.text))
        return self._marked(label)

    def _marked(self, text: Text) -> Text:
        """Show where the query's words occur."""
        words = [w for w in self.query_text.split() if len(w) > 1]
        if words:
            text.highlight_words(words, style="bold underline", case_sensitive=False)
        return text

    @on(OptionList.OptionHighlighted)
    def _highlighted(self) -> None:
        self._detail()

    def _detail(self) -> None:
        item = self.selected
        detail = self.query_one(".detail", Static)
        if item is None:
            detail.update("")
        elif self.kind == "recall":
            detail.update(self._marked(self._message_detail(item)))
        else:
            detail.update(self._marked(self._passage_detail(item)))

    @staticmethod
    def _message_detail(message: Message) -> Text:
        kind = f" ({message.kind})" if message.kind != message.role else ""
        head = f"{message.role}{kind} · step {message.step} · {stamp(message.created_at)}"
        if message.name:
            head += f" · {message.name}"
        return Text.assemble((head, "bold"), "\n", (f"id {message.id}", "dim"), "\n\n", message_text(message))

    @staticmethod
    def _passage_detail(passage: Passage) -> Text:
        head = f"archival memory · {stamp(passage.created_at)}"
        if passage.score is not None:
            head += f" · score {passage.score:.3f}"
        meta = "\n".join(f"{k}: {v}" for k, v in passage.metadata.items())
        return Text.assemble(
            (head, "bold"), "\n", (f"id {passage.id}", "dim"), "\n", (meta, "dim"), "\n\n", passage.text
        )


class MemoryBrowser(Screen[None]):
    """Recall | Archival tabs over ``agent``'s memory. Dismisses None (Esc)."""

    CSS_PATH = "memory_browser.tcss"
    BINDINGS = [
        Binding("escape", "close", "Close", id="memory.close"),
        Binding("pagedown", "page(1)", "Next page", priority=True, show=False, id="memory.page_down"),
        Binding("pageup", "page(-1)", "Prev page", priority=True, show=False, id="memory.page_up"),
        Binding("right_square_bracket", "page(1)", "Next page", id="memory.next_page"),
        Binding("left_square_bracket", "page(-1)", "Prev page", id="memory.previous_page"),
        Binding("a", "add", "Add", id="memory.add"),
        Binding("e", "edit", "Edit", id="memory.edit"),
        Binding("d,delete", "delete", "Delete", id="memory.delete"),
        Binding("slash", "focus_query", "Search", show=False, id="memory.search"),
    ]

    def __init__(self, agent: AgentHandle, tab: str = "recall") -> None:
        super().__init__()
        self.agent = agent
        self.initial_tab = tab

    def compose(self) -> ComposeResult:
        with TabbedContent(initial=self.initial_tab):
            with TabPane("Recall", id="recall"):
                yield ResultsPane("recall")
            with TabPane("Archival", id="archival"):
                yield ResultsPane("archival")
        yield Footer()

    def on_mount(self) -> None:
        self.pane("recall").status(RECALL_HINT)
        self.search("archival", "", 0)
        self.action_focus_query()

    def pane(self, kind: str) -> ResultsPane:
        return self.query_one(f"#{kind}-pane", ResultsPane)

    @property
    def active(self) -> ResultsPane:
        return self.pane(self.query_one(TabbedContent).active or "recall")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action not in ("add", "edit", "delete", "page") or not self.is_mounted:
            return True
        pane = self.active
        if action == "page":
            return pane.pages > 1
        if action == "edit" and "edit_passage" in self.agent.unavailable:
            return False
        # Letters are text while typing a query; the archival keys act on the results list.
        return pane.kind == "archival" and not isinstance(self.focused, Input)

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.refresh_bindings()
        self.action_focus_query()

    def action_focus_query(self) -> None:
        self.active.query_one(Input).focus()

    def action_close(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        kind = str(event.input.id).removesuffix("-query")
        self.search(kind, event.value.strip(), 0, focus=True)

    def action_page(self, delta: int) -> None:
        pane = self.active
        target = pane.page + delta
        if 0 <= target < pane.pages:
            self.search(pane.kind, pane.query_text, target)

    @work(exclusive=True, group="search")
    async def search(self, kind: str, query: str, page: int, focus: bool = False, highlight: int = 0) -> None:
        pane = self.pane(kind)
        pane.query_text = query
        if kind == "recall" and not query:
            pane.clear(RECALL_HINT)
            return
        pane.status("Searching…")
        try:
            result = await self._fetch(kind, query, page)
            if result.items == [] and page > 0 and result.pages:  # the page emptied (deletes): go back
                result = await self._fetch(kind, query, result.pages - 1)
        except Exception as exc:
            pane.status(f"Search failed: {exc}", error=True)
            return
        pane.show(result, highlight)
        self.refresh_bindings()
        if focus and result.items:
            pane.results.focus()

    async def _fetch(self, kind: str, query: str, page: int) -> Page[Any]:
        if kind == "recall":
            return await self.agent.search_recall(query, page)
        if query:
            return await self.agent.search_archival(query, page)
        return await self.agent.list_archival(page)

    def _refresh_archival(self, highlight: int = 0) -> None:
        pane = self.pane("archival")
        self.search("archival", pane.query_text, pane.page, highlight=highlight)

    # --------------------------------------------------------------- archival edits

    @on(Button.Pressed, ".archival-buttons Button")
    async def _button(self, event: Button.Pressed) -> None:
        await self.run_action(str(event.button.id).replace("archival-", ""))

    @work(exclusive=True, group="edit")
    async def action_add(self) -> None:
        text = await self.app.push_screen_wait(TextEditModal("New archival memory"))
        if text is None:
            return
        try:
            await self.agent.insert_archival(text)
        except Exception as exc:
            self.notify(f"Could not add the memory: {exc}", severity="error")
            return
        self.notify("Added to archival memory.")
        self._refresh_archival()

    @work(exclusive=True, group="edit")
    async def action_edit(self) -> None:
        pane = self.pane("archival")
        passage = pane.selected
        if passage is None:
            return
        text = await self.app.push_screen_wait(TextEditModal("Edit archival memory", passage.text))
        if text is None or text == passage.text:
            return
        try:
            await self.agent.update_archival(passage.id, text)
        except Exception as exc:
            self.notify(f"Could not save the memory: {exc}", severity="error")
            return
        self.notify("Archival memory updated.")
        self._refresh_archival(pane.results.highlighted or 0)

    @work(exclusive=True, group="edit")
    async def action_delete(self) -> None:
        pane = self.pane("archival")
        passage = pane.selected
        if passage is None:
            return
        question = f"Delete this archival memory?\n\n{_snippet(passage.text)}"
        if not await self.app.push_screen_wait(ConfirmModal(question, "Delete", danger=True)):
            return
        try:
            await self.agent.delete_archival(passage.id)
        except Exception as exc:
            self.notify(f"Could not delete the memory: {exc}", severity="error")
            return
        self.notify("Archival memory deleted.")
        self._refresh_archival(pane.results.highlighted or 0)
