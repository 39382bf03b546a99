"""The conversation pane: history from recall memory plus the live step, streamed in place.

Only a window of rows is mounted: the newest ``FIRST_PAGE`` messages at first, older pages when the reader
scrolls to the top, and the oldest rows are pruned again once the window grows past ``MAX_ROWS`` while
the reader follows the bottom. A 10k-message agent costs what a 100-message one does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from textual import events, on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from ...model import events as ev
from ..messages import EngineMessage, message_for
from ..transcript import (
    Entry,
    ErrorEntry,
    ReplyEntry,
    SystemEntry,
    SystemKind,
    ThoughtEntry,
    ToolEntry,
    UserEntry,
    call_entry,
    entries_from_messages,
    older_messages,
    result_entry,
    step_entry,
    thought_entry,
)
from .rows import ReplyRow, ThoughtRow, ToolRow, row_for

if TYPE_CHECKING:
    from ...engine.agent import Agent
    from ...model.messages import Message as StoredMessage

FIRST_PAGE = 60  # messages shown at first: more than a screenful, quick to mount
WINDOW = 100  # messages per older page
MAX_ROWS = 300
KEEP_ROWS = 150
NEAR_TOP = 3  # lines from the top where the next older page starts loading
OUT_OF_CONTEXT = (
    "Messages above are out of the agent's context window: in recall memory, folded into its summary"
)


class Conversation(VerticalScroll):
    BORDER_TITLE = "Conversation"

    class Line(Message, bubble=False):
        """A system line or error from the UI itself (command output), kept in order with engine events."""

        def __init__(self, kind: SystemKind | Literal["error"], text: str, hint: str = "") -> None:
            super().__init__()
            self.kind, self.text, self.hint = kind, text, hint

    def __init__(self, agent: Agent, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.agent = agent
        self._edge = Static(classes="edge")
        self._oldest: str | None = None  # the oldest message mounted; older pages load before it
        self._boundary: str | None = None  # the oldest message in the agent's context window
        self._exhausted = False
        self._loading = False
        self._step_rows: list[Widget] = []  # rows of the step in flight, tied to its message when it ends
        self._user: Widget | None = None  # the message that started the step in flight
        self._thought: ThoughtRow | None = None
        self._reply: ReplyRow | None = None
        self._tools: dict[str, ToolRow] = {}

    def compose(self) -> ComposeResult:
        yield self._edge

    async def on_mount(self) -> None:
        self.anchor()
        self.watch(self, "scroll_y", self._on_scrolled, init=False)
        await self.reload()

    # ------------------------------------------------------------------ history

    async def reload(self) -> None:
        """Show the newest page: the in-context window, topped up from recall when it is short."""
        in_context = self.agent.snapshot().in_context
        self._boundary = in_context[0].id if in_context else None
        older, self._exhausted = await older_messages(
            self.agent, self._boundary, FIRST_PAGE - len(in_context)
        )
        messages = [*older, *in_context[-FIRST_PAGE:]]
        self._oldest = messages[0].id if messages else None
        self._reset_live()
        rows = [row_for(e, self.agent.name) for e in self._entries(messages)]
        with self.app.batch_update():
            await self.remove_children([c for c in self.children if c is not self._edge])
            await self.mount_all(rows)
        self._update_edge()
        self.anchor()

    async def _load_older(self) -> None:
        """The page before the oldest mounted message (``_loading`` is already set by the caller)."""
        self._edge.update(Content("Loading older messages…"))
        try:
            batch, self._exhausted = await older_messages(self.agent, self._oldest, WINDOW)
            if batch:
                self._oldest = batch[0].id
                rows = [row_for(e, self.agent.name) for e in self._entries(batch)]
                height, y = self.virtual_size.height, self.scroll_y
                await self.mount_all(rows, after=self._edge)
                # Keep the reader's place: the new rows grow the content above the viewport.
                self.call_after_refresh(
                    lambda: self.scroll_to(
                        y=y + self.virtual_size.height - height, animate=False, immediate=True
                    )
                )
        finally:
            self._loading = False
            self._update_edge()

    def _entries(self, messages: list[StoredMessage]) -> list[Entry]:
        """Entries with a divider where the agent's context window begins."""
        boundary = self._boundary
        cut = next((i for i, m in enumerate(messages) if boundary is not None and m.id >= boundary), None)
        if not cut:
            return entries_from_messages(messages)
        divider = SystemEntry("divider", OUT_OF_CONTEXT, messages[cut].id)
        return [*entries_from_messages(messages[:cut]), divider, *entries_from_messages(messages[cut:])]

    def _update_edge(self) -> None:
        text = "Beginning of the conversation" if self._exhausted else "↑ Scroll up for older messages"
        self._edge.update(Content(text))

    def _on_scrolled(self, y: float) -> None:
        # Only a reader scrolling up: pruning can also leave the content at the top.
        if y <= NEAR_TOP and self.max_scroll_y > 0:
            self._want_older()

    # At the top the scroll position cannot change, so the wheel and keys ask for more themselves.

    def on_mouse_scroll_up(self) -> None:
        self._near_top()

    def action_scroll_up(self) -> None:
        super().action_scroll_up()
        self._near_top()

    def action_page_up(self) -> None:
        super().action_page_up()
        self._near_top()

    def action_scroll_home(self) -> None:
        super().action_scroll_home()
        self._near_top()

    def _near_top(self) -> None:
        if self.scroll_y <= NEAR_TOP:
            self._want_older()

    def on_click(self, event: events.Click) -> None:
        if event.widget is self._edge:
            self._want_older()

    def _want_older(self) -> None:
        if not self._exhausted and not self._loading and self._oldest is not None:
            self._loading = True  # set now: scroll events come faster than the worker starts
            self.run_worker(self._load_older(), group="older")

    def _prune(self) -> None:
        """Unmount the oldest rows once the window is large and the reader is at the bottom."""
        rows = [c for c in self.children if c is not self._edge]
        if len(rows) <= MAX_ROWS or self.scroll_y < self.max_scroll_y:
            return
        for i in range(len(rows) - KEEP_ROWS, len(rows)):
            source = getattr(rows[i], "source_id", None)
            if source is not None and source != getattr(rows[i - 1], "source_id", None):
                self._oldest, self._exhausted = source, False
                self.remove_children(rows[:i])
                self._update_edge()
                return

    # -------------------------------------------------------------- live step

    async def add(self, row: Widget) -> None:
        self._step_rows.append(row)
        await self.mount(row)

    async def add_entry(self, entry: Entry) -> None:
        await self.add(row_for(entry, self.agent.name))

    async def add_user(self, text: str) -> None:
        row = self._user = row_for(UserEntry(text), self.agent.name)
        await self.add(row)
        self.anchor()

    async def add_system(self, kind: SystemKind, text: str) -> None:
        await self.add_entry(SystemEntry(kind, text))

    async def add_error(self, text: str, hint: str = "") -> None:
        await self.add_entry(ErrorEntry(text, hint))

    async def abort_live(self, user_row: Widget | None = None) -> None:
        """A cancelled step: drop what it streamed (and the user's message, when it was taken back)."""
        doomed = [w for w in (self._thought, self._reply, user_row) if w is not None and w.is_attached]
        self._reset_live()
        if doomed:
            await self.remove_children(doomed)

    async def on_conversation_line(self, message: Line) -> None:
        if message.kind == "error":
            await self.add_error(message.text, message.hint)
        else:
            await self.add_system(message.kind, message.text)

    def _finish_reply(self) -> None:
        """A reply cut short keeps what streamed, rendered whole."""
        if self._reply is not None and self._reply.is_attached:
            self._reply.finish(self._reply.text)

    def _reset_live(self) -> None:
        self._thought = self._reply = None
        self._tools.clear()

    # One handler per engine event; the bridge posts them here in the order the engine sent them.
    # Rows come from transcript's entries, as history's do; streamed rows start empty and grow.

    @on(message_for(ev.StepStarted))
    async def _step_started(self, message: EngineMessage[ev.StepStarted]) -> None:
        entry = step_entry(message.event.reason)
        if entry is not None:
            await self.add_entry(entry)

    @on(message_for(ev.Token))
    async def _token(self, message: EngineMessage[ev.Token]) -> None:
        token = message.event
        if token.channel == "thought":
            if self._thought is None:
                self._thought = row_for(ThoughtEntry(""), self.agent.name)
                await self.add(self._thought)
            self._thought.add(token.text)
        else:
            if self._reply is None:
                self._reply = row_for(ReplyEntry(""), self.agent.name)
                await self.add(self._reply)
            self._reply.add(token.text)

    @on(message_for(ev.InnerThought))
    async def _inner_thought(self, message: EngineMessage[ev.InnerThought]) -> None:
        if self._thought is not None:
            self._thought.set_text(message.event.text)
        elif (entry := thought_entry(message.event.text)) is not None:
            await self.add_entry(entry)
        self._thought = None

    @on(message_for(ev.FunctionCalled))
    async def _function_called(self, message: EngineMessage[ev.FunctionCalled]) -> None:
        call = message.event
        entry = call_entry(call.call_id, call.name, call.arguments)
        if isinstance(entry, ToolEntry):  # a reply is shown from its tokens and AssistantMessage instead
            row = self._tools[call.call_id] = row_for(entry, self.agent.name)
            await self.add(row)

    @on(message_for(ev.FunctionReturned))
    async def _function_returned(self, message: EngineMessage[ev.FunctionReturned]) -> None:
        result = message.event
        row = self._tools.pop(result.call_id, None)
        if row is not None:
            row.set_result(result.ok, result.message)
        elif (entry := result_entry(result.call_id, result.name, result.ok, result.message)) is not None:
            await self.add_entry(entry)

    @on(message_for(ev.AssistantMessage))
    async def _assistant_message(self, message: EngineMessage[ev.AssistantMessage]) -> None:
        if self._reply is None:
            await self.add_entry(ReplyEntry(message.event.text))
        else:
            self._reply.finish(message.event.text)
        self._reply = None

    @on(message_for(ev.Summarized))
    async def _summarized(self, message: EngineMessage[ev.Summarized]) -> None:
        n = message.event.evicted
        await self.add_system("summary", f"{n} older messages moved to recall memory and summarised")

    @on(message_for(ev.AttemptDiscarded))
    async def _attempt_discarded(self, message: EngineMessage[ev.AttemptDiscarded]) -> None:
        await self.abort_live()
        await self.add_system("warning", message.event.text)

    @on(message_for(ev.StepCancelled))
    async def _step_cancelled(self, message: EngineMessage[ev.StepCancelled]) -> None:
        cancelled = message.event
        await self.abort_live(self._user if cancelled.returned_text is not None else None)
        self._user = None
        await self.add_system("notice", cancelled.text)

    @on(message_for(ev.Notice))
    async def _notice(self, message: EngineMessage[ev.Notice]) -> None:
        notice = message.event
        await self.add_system("warning" if notice.level == "warning" else "notice", notice.text)

    @on(message_for(ev.Error))
    async def _error(self, message: EngineMessage[ev.Error]) -> None:
        self._finish_reply()
        self._reset_live()
        await self.add_error(message.event.text, message.event.hint)

    @on(message_for(ev.HistoryChanged))
    async def _history_changed(self) -> None:
        self._step_rows.clear()
        await self.reload()

    @on(message_for(ev.StepFinished))
    def _step_finished(self, message: EngineMessage[ev.StepFinished]) -> None:
        """Tie the step's rows to its first message, so pruning and paging can find them again."""
        ids = message.event.message_ids
        first = ids[0] if ids else None
        for row in self._step_rows:
            if getattr(row, "source_id", None) is None and first is not None:
                row.source_id = first  # type: ignore[attr-defined]
        self._user = None
        self._step_rows.clear()
        self._finish_reply()
        self._reset_live()
        if message.event.next_reason is None:
            self.call_after_refresh(self._prune)  # once the new rows are laid out
