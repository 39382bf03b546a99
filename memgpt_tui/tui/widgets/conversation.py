"""The conversation pane: history from recall memory plus the live step, streamed in place.

Only a window of rows is mounted: the newest ``FIRST_PAGE`` messages at first, older pages when the reader
scrolls to the top, and the oldest rows are pruned again once the window grows past ``MAX_ROWS`` while
the reader follows the bottom. A 10k-message agent costs what a 100-message one does.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
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
    from ...model.handle import AgentHandle
    from ...model.messages import Message as StoredMessage

FIRST_PAGE = 60  # messages shown at first: more than a screenful, quick to mount
WINDOW = 100  # messages per older page
MAX_ROWS = 300
KEEP_ROWS = 150
NEAR_TOP = 3  # lines from the top where the next older page starts loading
WALK = 1000  # messages read per call on the way back to a find's match
AROUND = 40  # messages mounted on each side of a match far back
WHERE_EVICTED = "in recall memory, folded into its summary"
Place = Literal["before", "in", "evicted"]  # a stored message against the agent's context window
OUT_OF_CONTEXT = f"Messages above are out of the agent's context window: {WHERE_EVICTED}"


class Conversation(VerticalScroll):
    BORDER_TITLE = "Conversation"
    BINDINGS = [
        Binding("up", "select(-1)", "Previous message", show=False, id="conversation.previous"),
        Binding("down", "select(1)", "Next message", show=False, id="conversation.next"),
        Binding("c", "copy", "Copy message", id="conversation.copy"),
    ]

    class Line(Message, bubble=False):
        """A system line or error from the UI itself (command output), kept in order with engine events."""

        def __init__(self, kind: SystemKind | Literal["error"], text: str, hint: str = "") -> None:
            super().__init__()
            self.kind, self.text, self.hint = kind, text, hint

    def __init__(self, agent: AgentHandle, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.agent = agent
        self._edge = Static(classes="edge")
        self._oldest: str | None = None  # the oldest message mounted; older pages load before it
        # Every message the rows stand for (a call's result too, and those held behind a gap), by id:
        # whether it is one of the agent's steps. What left the context window is marked from it.
        self._known: dict[str, bool] = {}
        self._exhausted = False
        self._loading = False
        self._paging = asyncio.Lock()  # one page load at a time: the reader's scrolling or a find
        self._marking = asyncio.Lock()
        # After a find far back: the messages between its page and the rows below, read but not mounted.
        self._gap: Static | None = None
        self._held: list[StoredMessage] = []
        self._after_gap: tuple[str | None, bool] | None = None  # the paging state of the rows below it
        self._selected: Widget | None = None  # the message up/down and copy act on
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
        """Show the newest page, with the divider above the oldest message in the context window."""
        # One read from recall: the newest page holds the window's messages and, in their places, the
        # ones evicted from between them (the earlier steps of a turn whose question stayed in view).
        messages, self._exhausted = await older_messages(self.agent, None, FIRST_PAGE)
        self._oldest = messages[0].id if messages else None
        self._reset_live()
        self._known.clear()
        rows = self._rows(messages)
        self._close_gap(restore=False)
        with self.app.batch_update():
            await self.remove_children([c for c in self.children if c is not self._edge])
            await self._mount_marked(rows)
        self._update_edge()
        self.anchor()

    async def _load_older(self) -> None:
        """The page before the oldest mounted message (``_loading`` is already set by the caller)."""
        async with self._paging:
            self._loading = True
            self._edge.update(Content("Loading older messages…"))
            placing = False
            try:
                batch, self._exhausted = await older_messages(self.agent, self._oldest, WINDOW)
                if batch:
                    self._oldest = batch[0].id
                    rows = self._rows(batch)
                    height, y = self.virtual_size.height, self.scroll_y
                    await self._mount_marked(rows, after=self._edge)  # a run it cuts: one divider
                    # Keep the reader's place: the new rows grow the content above the viewport. Until
                    # then the view still stands at the top, which must not ask for yet another page.

                    def keep_place() -> None:
                        self.scroll_to(y=y + self.virtual_size.height - height, animate=False, immediate=True)
                        self._loaded()

                    self.call_after_refresh(keep_place)
                    placing = True
            finally:
                if not placing:
                    self._loaded()

    def _loaded(self) -> None:
        self._loading = False
        self._update_edge()

    async def _jump(self, target: str) -> None:
        """Mount the messages around ``target``, older than every mounted one. Those between it and the
        mounted rows are read but held behind a gap row, and mounted as the reader scrolls down to it:
        a jump far back costs one page of rows, not every row in between."""
        self._loading = True
        self._edge.update(Content("Loading older messages…"))
        try:
            found: list[StoredMessage] = []
            oldest, exhausted = self._oldest, self._exhausted
            while not exhausted and (oldest is None or oldest > target):
                page, exhausted = await older_messages(self.agent, oldest, WALK)
                if not page:
                    break
                found, oldest = page + found, page[0].id
            if not found:
                return
            at = bisect.bisect_left([m.id for m in found], target)
            start = _unit_start(found, max(at - AROUND, 0))
            end = _unit_start(found, at + AROUND)
            shown, held = found[start:end], found[end:]
            if len(held) <= WINDOW:  # close by: mount it all
                shown, held = found[start:], []
            if held:
                self._after_gap = (self._oldest, self._exhausted)
                self._held = held
                self._learn(held)
            self._oldest, self._exhausted = shown[0].id, exhausted and start == 0
            rows = self._rows(shown)
            if held:
                self._gap = Static(classes="gap")
                self._update_gap()
                rows.append(self._gap)
            await self._mount_marked(rows, after=self._edge)
        finally:
            self._loading = False
            self._update_edge()

    def _update_gap(self) -> None:
        if self._gap is not None:
            n = len(self._held)
            self._gap.update(
                Content(f"↓ {n} newer messages not shown yet: scroll down or click to load them")
            )

    async def _fill_gap(self) -> None:
        """Mount the next page of held messages just above the gap; the gap goes once all are shown."""
        async with self._paging:
            if not self._held:
                return
            end = _unit_start(self._held, WINDOW)
            batch, self._held = self._held[:end], self._held[end:]
            rows = self._rows(batch)
            await self._mount_marked(rows, before=self._gap)
            if self._held:
                self._update_gap()
            else:
                await self.remove_children(self._close_gap(restore=False))

    def _close_gap(self, restore: bool) -> list[Widget]:
        """Forget the held messages and return the gap row to remove; ``restore``: the rows above it
        too, and the paging state of the rows below it comes back."""
        gap, self._gap = self._gap, None
        if gap is None:
            return []
        children = list(self.children)
        doomed = children[children.index(self._edge) + 1 : children.index(gap)] if restore else []
        if restore and self._after_gap is not None:
            self._oldest, self._exhausted = self._after_gap
            self._forget_before(self._oldest)
        self._held, self._after_gap = [], None
        return [*doomed, gap]

    def _in_gap(self, message_id: str) -> bool:
        return bool(self._held) and self._held[0].id <= message_id <= self._held[-1].id

    def _rows(self, messages: list[StoredMessage]) -> list[Widget]:
        """Rows for stored messages, for ``_mount_marked``."""
        self._learn(messages)
        return [row_for(e, self.agent.name) for e in entries_from_messages(messages)]

    def _learn(self, messages: Sequence[StoredMessage]) -> None:
        self._known.update((m.id, m.kind == "assistant") for m in messages)

    def _forget_before(self, oldest: str | None) -> None:
        """Forget the messages older than ``oldest``: their rows are gone."""
        self._known = {k: step for k, step in self._known.items() if oldest is not None and k >= oldest}

    async def _mark(self) -> None:
        """Mark the mounted rows again: the window changed, or rows went."""
        await self._mount_marked([])

    async def _mount_marked(
        self, rows: list[Widget], before: Widget | None = None, after: Widget | None = None
    ) -> None:
        """Mount ``rows`` (as ``mount_all`` does) and mark what left the agent's context window, as the
        snapshot shows it now, over them and the rows already mounted: a divider above the oldest
        message still in it, and each run evicted from between messages still in it (the earlier steps
        of a turn whose question stayed in view) dimmed under one divider counting the whole run,
        however many pages it spans. New rows come marked, with their dividers, in one mount."""
        async with self._marking:  # a page load and an engine event may both mark
            window = self.agent.snapshot().in_context
            place = _placer(window)
            mounted = [r for r in self.rows() if _source(r) is not None and not _is_divider(r)]
            shown = [*(r for r in rows if _source(r) is not None), *mounted]
            wanted: list[tuple[Widget, str]] = []
            for text, first, last in self._heads(place, window[0].id if window else None):
                under = [r for r in shown if first <= (_source(r) or "") <= last]
                if under:  # else all it heads is held behind a gap
                    wanted.append((min(under, key=lambda r: _source(r) or ""), text))
            await self._place_dividers(wanted, rows)
            for row in shown:
                row.set_class(place(_source(row) or "") == "evicted", "-out-of-context")
            if rows:
                await self.mount_all(rows, before=before, after=after)

    def _heads(self, place: Callable[[str], Place], first: str | None) -> list[tuple[str, str, str]]:
        """The dividers the known messages call for, in order: each one's text, and the first and last
        message of what it heads. ``first``: the window's first message."""
        ids = sorted(self._known)
        inside = [i for i in ids if place(i) != "before"]
        heads: list[tuple[str, str, str]] = []
        # Something is older than the window's first message: known messages, or ones not loaded yet.
        if inside and (len(inside) < len(ids) or (inside[0] == first and not self._exhausted)):
            heads.append((OUT_OF_CONTEXT, inside[0], inside[-1]))
        for where, group in itertools.groupby(inside, place):
            run = list(group)
            if where == "evicted":
                heads.append((_left_window(sum(self._known[i] for i in run), len(run)), run[0], run[-1]))
        return heads

    async def _place_dividers(self, wanted: list[tuple[Widget, str]], rows: list[Widget]) -> None:
        """Remove the dividers not ``wanted`` (the row each stands above and its text, in order) and add
        the missing ones: into ``rows`` (not mounted yet) above a row of theirs, else mounted."""
        have = {(_source(d), plain(d)): d for d in self.rows() if _is_divider(d)}
        keys = [(_source(anchor), text) for anchor, text in wanted]
        stale = [d for key, d in have.items() if key not in keys]
        if stale:
            await self.remove_children(stale)
        below: Widget | None = None  # the next divider down: when it heads the same row, this goes above it
        for (anchor, text), key in reversed(list(zip(wanted, keys, strict=True))):
            divider = have.get(key)
            if divider is None:
                divider = self._divider(text, _source(anchor) or "")
                target = below if below is not None and _source(below) == key[0] else anchor
                if target in rows:
                    rows.insert(rows.index(target), divider)
                else:
                    await self.mount(divider, before=target)
            below = divider

    def _divider(self, text: str, source_id: str) -> Widget:
        """A divider row, tied to the message below it: it goes with that row when older ones are pruned."""
        return row_for(SystemEntry("divider", text, source_id), self.agent.name)

    def _update_edge(self) -> None:
        text = "Beginning of the conversation" if self._exhausted else "↑ Scroll up for older messages"
        self._edge.update(Content(text))

    def _on_scrolled(self, y: float) -> None:
        # Only a reader scrolling up: pruning can also leave the content at the top.
        if y <= NEAR_TOP and self.max_scroll_y > 0:
            self._want_older()
        gap = self._gap
        if gap is not None and gap.virtual_region.y < y + self.scrollable_content_region.height:
            self._want_gap()

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
            return
        if event.widget is self._gap:
            self._want_gap()
            return
        if event.widget is None:
            return
        ancestry = event.widget.ancestors_with_self
        row = next((w for w in ancestry if isinstance(w, Widget) and w.parent is self), None)
        if row is not None:
            self.select(row, scroll=False)

    def _want_gap(self) -> None:
        if not self._loading:
            self._loading = True
            self.run_worker(self._filling_gap(), group="gap")

    async def _filling_gap(self) -> None:
        try:
            await self._fill_gap()
        finally:
            self._loading = False

    def _want_older(self) -> None:
        if not self._exhausted and not self._loading and self._oldest is not None:
            self._loading = True  # set now: scroll events come faster than the worker starts
            self.run_worker(self._load_older(), group="older")

    async def _prune(self) -> None:
        """Unmount the oldest rows once the window is large and the reader is at the bottom."""
        rows = self.rows()
        if len(rows) <= MAX_ROWS or self.scroll_y < self.max_scroll_y or self._loading:
            return
        for i in range(len(rows) - KEEP_ROWS, len(rows)):
            source = getattr(rows[i], "source_id", None)
            if source is not None and source != getattr(rows[i - 1], "source_id", None):
                doomed = rows[:i]
                gap = self._gap
                if gap is not None and self.children.index(gap) < self.children.index(rows[i]):
                    doomed += self._close_gap(restore=False)
                self._oldest, self._exhausted = source, False
                self._forget_before(source)
                await self.remove_children(doomed)
                self._update_edge()
                await self._mark()  # a run cut at the top gets its divider back
                return

    # ---------------------------------------------------------------- selection

    def rows(self) -> list[Widget]:
        return [c for c in self.children if c is not self._edge and c is not self._gap]

    @property
    def selected(self) -> Widget | None:
        row = self._selected
        return row if row is not None and row.parent is self else None

    def select(self, row: Widget | None, scroll: bool = True, center: bool = False) -> None:
        """Mark ``row`` as the message that copy acts on, and bring it into view."""
        if self._selected is not None:
            self._selected.remove_class("-selected")
        self._selected = row
        if row is None:
            return
        row.add_class("-selected")
        if center:
            self.call_after_refresh(lambda: self.scroll_to_center(row, animate=False, immediate=True))
        elif scroll:
            self.scroll_to_widget(row, animate=False, immediate=True)

    async def action_select(self, step: int) -> None:
        """Up/down: the previous or next message; at first, the one at the viewport's edge. Moving down
        onto the gap of a find mounts what it holds first, so no message is stepped over."""
        current = self.selected
        gap = self._gap
        if step > 0 and current is not None and gap is not None:
            children = list(self.children)
            if children.index(gap) == children.index(current) + 1:
                await self._fill_gap()
        rows = self.rows()
        if not rows:
            return
        if current is None:
            top, bottom = self.scroll_y, self.scroll_y + self.scrollable_content_region.height
            shown = [r for r in rows if r.virtual_region.bottom > top and r.virtual_region.y < bottom]
            chosen = (shown or rows)[-1 if step < 0 else 0]
        else:
            index = rows.index(current) + step
            if index < 0:
                self._want_older()
            chosen = rows[min(max(index, 0), len(rows) - 1)]
        self.select(chosen)

    def action_copy(self) -> None:
        """Copy the selected message (a reply's text, a call with its result) to the clipboard."""
        row = self.selected
        if row is None:
            self.notify("Select a message first: ↑/↓ or a click.", severity="warning")
            return
        text = plain(row)
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied {len(text)} characters.", timeout=3)

    async def reveal(self, message_id: str, words: list[str]) -> bool:
        """Select the row showing recall message ``message_id``, mounting it first (``_jump``) when it
        is older than every mounted row or held behind a gap; of a message's rows, the first holding
        one of ``words``. False when it is not in the conversation any more."""
        async with self._paging:
            if self._gap is not None and (message_id < (self._oldest or "") or self._in_gap(message_id)):
                await self.remove_children(self._close_gap(restore=True))  # then jump from the rows below
                await self._mark()
            if self._oldest is None or message_id < self._oldest:
                await self._jump(message_id)
        rows = [r for r in self.rows() if getattr(r, "source_id", None) is not None]
        # A message may have no row of its own (a result folds into its call's row): take the last
        # message shown at or before it.
        at = max((r.source_id for r in rows if r.source_id <= message_id), default=None)  # type: ignore[attr-defined]
        if at is None:
            return False
        candidates = [r for r in rows if r.source_id == at and getattr(r, "kind", "") != "divider"]  # type: ignore[attr-defined]
        if not candidates:
            return False
        lowered = [w.lower() for w in words]
        row = next((r for r in candidates if any(w in plain(r).lower() for w in lowered)), candidates[0])
        self.select(row, center=True)
        return True

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
        await self._mark()

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

    @on(message_for(ev.CaughtUp))
    async def _caught_up(self, message: EngineMessage[ev.CaughtUp]) -> None:
        """Messages stored while the agent's server was out of reach: after the rest, as if live (the
        newest page instead, when they are more than one)."""
        missed = list(message.event.messages)
        self._finish_reply()
        self._reset_live()
        self._step_rows.clear()
        if len(missed) > FIRST_PAGE:
            await self.reload()
            return
        await self._mount_marked(self._rows(missed))
        self.anchor()
        self.call_after_refresh(self._prune)

    @on(message_for(ev.StepFinished))
    def _step_finished(self, message: EngineMessage[ev.StepFinished]) -> None:
        """Tie the step's rows to its messages, so pruning, paging and find can find them again: the
        rows before the agent's first thought, reply or call to the step's input, the rest to its reply."""
        ids = message.event.message_ids
        incoming, answer = (ids + (None, None))[:2]
        self._known.update((i, i == answer) for i in ids)
        answered = False
        for row in self._step_rows:
            answered = answered or isinstance(row, ThoughtRow | ReplyRow | ToolRow)
            if getattr(row, "source_id", None) is None and incoming is not None:
                row.source_id = answer if answered and answer is not None else incoming  # type: ignore[attr-defined]
        self._user = None
        self._step_rows.clear()
        self._finish_reply()
        self._reset_live()
        if message.event.next_reason is None:
            self.call_after_refresh(self._prune)  # once the new rows are laid out


def plain(row: Widget) -> str:
    """A row's text as copy puts it on the clipboard."""
    copy_text = getattr(row, "copy_text", None)
    return copy_text() if callable(copy_text) else ""


def _placer(window: Sequence[StoredMessage]) -> Callable[[str], Place]:
    """Where a stored message (by id) stands against the context window ``window``: before it, in it,
    or evicted from between messages still in it. One newer than the window's newest counts as in it:
    a remote agent's window may not show the newest step yet."""
    if not window:
        return lambda message_id: "in"
    first, last, ids = window[0].id, window[-1].id, {m.id for m in window}

    def place(message_id: str) -> Place:
        if message_id < first:
            return "before"
        return "evicted" if message_id < last and message_id not in ids else "in"

    return place


def _left_window(steps: int, messages: int) -> str:
    """The divider above a run evicted from the middle of the window: how many steps (the agent's
    calls, each with its thought) it holds, or messages when it holds none."""
    count, noun = (steps, "step") if steps else (messages, "message")
    return f"↓ The next {count} {noun}{'s' if count != 1 else ''} left the agent's context window: {WHERE_EVICTED}"


def _source(row: Widget) -> str | None:
    """The id of the message a row shows (None for a live row not tied yet, or a line of the UI's)."""
    return getattr(row, "source_id", None)


def _is_divider(row: Widget) -> bool:
    return getattr(row, "kind", None) == "divider"


def _unit_start(messages: list[StoredMessage], index: int) -> int:
    """``index``, or the first one after it that is not a tool result: a slice never starts with a
    result cut off from its call."""
    while index < len(messages) and messages[index].kind == "tool_result":
        index += 1
    return index
