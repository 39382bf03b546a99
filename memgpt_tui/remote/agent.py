"""``RemoteAgent``: an agent that a ``memgpt-tui serve`` runs, behind ``model.handle.AgentHandle``.

Its events come from the server's own event stream (``/v1/x-memgpt/agents/ID/events``) and reach the
listeners as the engine's events (``wire.event``); before one that changes what the snapshot shows is
passed on, the snapshot is read again, so a listener sees the state the event speaks of. A turn started
elsewhere (another terminal) is read along: its events arrive the same way, and when it ends the history
is reloaded so its user message shows too. When the stream breaks, the agent says so, reconnects, and
catches up: the messages stored after the last one it had arrive as one ``CaughtUp`` (the history is
read again whole when that one is gone, popped or restored away, or when a message it shows was changed
meanwhile): nothing is missed, nothing shown twice and nothing shown as it no longer is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx

from .. import wire
from ..model import events as ev
from ..model.errors import AgentError
from ..model.handle import Listener
from ..model.messages import Message
from ..model.records import CheckpointInfo, Page, Passage
from ..model.state import AgentConfig, AgentState, Block
from ..model.text import size as text_size
from ..model.view import AgentView
from .connection import Connection, ServerError

log = logging.getLogger(__name__)

OWN = "/v1/x-memgpt/agents"
LETTA = "/v1/agents"
# Events after which the snapshot is read again before listeners hear them.
CHANGES_VIEW = (ev.StepFinished, ev.CoreMemoryChanged, ev.HistoryChanged, ev.Summarized)
ENDS_TURN = (ev.StepCancelled, ev.Error)
RETRY_DELAYS: tuple[float, ...] = (
    0.2,
    0.5,
    1.0,
    2.0,
)  # seconds between reconnection attempts, the last one repeated
# The server pings an idle stream every 15 s: a longer silence is a connection gone without a word.
STREAM_TIMEOUT = httpx.Timeout(30, read=45)
EDIT_EVENT_WAIT = 2.0  # seconds an edit waits for its event on the stream
TEXT_KEPT = "Your text is back in the input."
MAYBE_RECEIVED = "The server may have received it before the break: it is said here once the server is back."
UNAVAILABLE = MappingProxyType(
    {
        "/attach": "data sources are attached on the server's machine (memgpt-tui load, then the local TUI).",
    }
)


class RemoteAgent:
    unavailable: Mapping[str, str] = UNAVAILABLE

    def __init__(self, connection: Connection, agent_id: str, view: dict[str, Any]) -> None:
        """Use ``open``."""
        self.connection = connection
        self.id = agent_id
        self._listeners: list[Listener] = []
        self._last_id: str | None = None  # the newest message this agent has shown
        self._read(view)
        self._mine = False  # a turn of this handle is in flight
        self._sent_at_break: tuple[str, str | None] | None = None  # (text, the newest id then)
        self._turn_end = asyncio.Event()
        self._view_changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    @classmethod
    async def open(cls, connection: Connection, agent_id: str) -> RemoteAgent:
        agent = cls(connection, agent_id, await connection.call("GET", f"{OWN}/{agent_id}/view"))
        agent._reader = asyncio.create_task(agent._read_events(), name=f"events-{agent_id}")
        await agent._listening.wait()
        return agent

    def _read(self, view: dict[str, Any]) -> None:
        self._view = AgentView(
            name=view["name"],
            config=AgentConfig.model_validate(view["config"]),
            blocks=tuple(Block.model_validate(b) for b in view["blocks"]),
            summary=view["summary"],
            step=view["step"],
            in_context=tuple(Message.model_validate(m) for m in view["in_context"]),
            recall_messages=view["recall_messages"],
            archival_memories=view["archival_memories"],
        )
        context = wire.event(view["context"]) if view["context"] else None
        self._context = context if isinstance(context, ev.ContextChanged) else None
        self._unanswered: str | None = view["unanswered"]
        if self._view.in_context:
            self._last_id = self._view.in_context[-1].id
        self._message_chars: int = view["message_chars"]

    async def _reload(self) -> None:
        self._read(await self.connection.call("GET", f"{OWN}/{self.id}/view"))

    # ------------------------------------------------------------------ events

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, event: ev.Event) -> None:
        for listener in list(self._listeners):
            listener(event)

    async def _read_events(self) -> None:
        delays = iter(RETRY_DELAYS)
        lost = False
        while True:
            try:
                path = f"{OWN}/{self.id}/events"
                async with self.connection.http.stream("GET", path, timeout=STREAM_TIMEOUT) as stream:
                    if stream.status_code != 200:
                        raise ServerError(f"The event stream answered {stream.status_code}.")
                    self._listening.set()
                    if lost:
                        await self._caught_up()
                        lost, delays = False, iter(RETRY_DELAYS)
                    async for line in stream.aiter_lines():
                        if line.startswith("data: "):
                            await self._arrived_line(line[6:])
            except (httpx.TransportError, ServerError) as exc:
                log.info("event stream of %s: %s", self.id, exc)
            self._listening.set()
            if not lost:
                lost = True
                self._turn_end.set()  # a turn waiting for its last events waits no more
                self._emit(ev.Notice("warning", f"Server unreachable at {self.connection.url}, retrying…"))
            await asyncio.sleep(next(delays, RETRY_DELAYS[-1]))

    async def _caught_up(self) -> None:
        """Back after a break: the messages stored meanwhile, after the last one shown; the history read
        again whole when that one is gone or a message still shown was changed (a /rewrite elsewhere)."""
        shown = {m.id: m for m in self._view.in_context}
        missed: tuple[Message, ...] | None = None
        if (last := self._last_id) is not None:
            path = f"{OWN}/{self.id}/history/after"
            answer = await self.connection.call("GET", path, params={"after": last})
            if answer["continuous"]:
                missed = tuple(Message.model_validate(m) for m in answer["messages"])
        await self._reload()
        if missed is None or any(shown.get(m.id, m) != m for m in self._view.in_context):
            self._emit(ev.HistoryChanged("reconnected to the server"))
        elif missed:
            self._last_id = max(self._last_id or "", missed[-1].id)
            self._emit(ev.CaughtUp(missed))
        caught = f" {len(missed)} messages arrived meanwhile." if missed else ""
        self._emit(ev.Notice("info", f"Reconnected to the server.{caught}"))
        if self._sent_at_break is not None:
            self._say_if_received(*self._sent_at_break, (*(missed or ()), *self._view.in_context))

    def _say_if_received(self, text: str, before: str | None, messages: tuple[Message, ...]) -> None:
        """Whether the server kept the message whose sending broke off: said, so it is not sent twice."""
        self._sent_at_break = None
        kept = any(m.user_text() == text and (before is None or m.id > before) for m in messages)
        shown = text if len(text) <= 60 else text[:59] + "…"
        if kept:
            said = (
                f"The server received “{shown}” before the break: it is in the conversation, so the "
                "copy in the input need not be sent again."
            )
        else:
            said = f"The server did not receive “{shown}”: send it again from the input."
        self._emit(ev.Notice("info", said))

    async def _arrived_line(self, data: str) -> None:
        try:
            await self._arrived(json.loads(data))
        except (httpx.TransportError, ServerError):
            raise
        except Exception:  # one record this version cannot read must not end the reading for good
            log.exception("unreadable event from the server for %s: %.200s", self.id, data)

    async def _arrived(self, item: dict[str, Any]) -> None:
        event = wire.event(item)
        if event is None:
            return
        if isinstance(event, ev.ContextChanged):
            self._context = event
            self._view = replace(
                self._view, recall_messages=event.recall_messages, archival_memories=event.archival_memories
            )
        elif isinstance(event, CHANGES_VIEW):
            await self._reload()
            self._view_changed.set()
        if isinstance(event, ev.StepFinished) and event.message_ids:
            self._last_id = max(self._last_id or "", *event.message_ids)
        self._emit(event)
        finished = isinstance(event, ev.StepFinished) and event.next_reason is None
        if finished and not self._mine:  # read along: show the other terminal's message too
            self._emit(ev.HistoryChanged("a turn from another terminal"))
        if finished or isinstance(event, ENDS_TURN):
            self._turn_end.set()

    # ----------------------------------------------------------- the snapshot

    @property
    def name(self) -> str:
        return self._view.name

    @property
    def is_open(self) -> bool:
        return True

    @property
    def needs_greeting(self) -> bool:
        return False  # the server greets new agents itself

    @property
    def last_context(self) -> ev.ContextChanged | None:
        return self._context

    def snapshot(self) -> AgentView:
        return self._view

    def unanswered(self) -> str | None:
        return self._unanswered

    def refusal(self, text: str) -> str | None:
        if len(text) > self._message_chars:
            return (
                f"The text is {text_size(len(text))}, over the limit of {self._message_chars:,} characters."
            )
        return None

    def dump(self, count: int | None = None) -> list[Message]:
        messages = list(self._view.in_context)
        return messages[-count:] if count else messages

    async def wait_open(self) -> None:
        return None

    async def close(self) -> None:
        """Stop listening; the agent stays open on the server."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self.connection.aclose()

    async def refresh_context(self) -> ev.ContextChanged:
        await self._reload()
        if self._context is None:
            raise AgentError("The server has no token counts for this agent yet.")
        return self._context

    # ------------------------------------------------------------------ turns

    async def _turn(self, path: str, text: str | None = None) -> None:
        """Run a turn on the server; its events arrive on the stream, and this returns once they have."""
        self._mine = True
        self._turn_end.clear()
        try:
            await self.connection.call(
                "POST", f"{OWN}/{self.id}/{path}", json={"text": text} if text else None
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._turn_end.wait(), 5)
        except ServerError as exc:
            if exc.status in (0, 409) and text is not None:  # busy, or out of reach: kept for the user
                self._emit(ev.StepCancelled(self._view.step + 1, text))
                if exc.sent:  # said once the server is back and its conversation can be read
                    self._sent_at_break = (text, self._last_id)
                    raise AgentError(f"{exc} {TEXT_KEPT} {MAYBE_RECEIVED}") from None
                raise AgentError(f"{exc} {TEXT_KEPT}") from None  # the server's reason: busy or locked
            raise
        except asyncio.CancelledError:
            await asyncio.shield(self._cancel())
            raise
        finally:
            self._mine = False

    async def _edit(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """An edit that changes what the snapshot shows: returns once its event has been passed on, as
        a local agent's edit does (a line said after it then shows after the conversation reloads).
        One whose answer says it changed nothing returns at once: no event comes for it."""
        self._view_changed.clear()
        answer = await self.connection.request(method, path, **kwargs)
        if _changed(answer):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._view_changed.wait(), EDIT_EVENT_WAIT)
        return answer

    async def _cancel(self) -> None:
        with contextlib.suppress(ServerError):
            await self.connection.call("POST", f"{OWN}/{self.id}/cancel")

    async def send(self, text: str) -> None:
        await self._turn("messages", text)

    async def retry(self) -> None:
        await self._turn("retry")

    async def login(self) -> None:
        return None

    async def heartbeat(self) -> None:
        await self._turn("heartbeat")

    async def memory_warning(self) -> None:
        await self._turn("memory-warning")

    async def summarize_now(self) -> int:
        answer = (await self._edit("POST", f"{LETTA}/{self.id}/summarize")).json()
        return max(int(answer["num_messages_before"]) - int(answer["num_messages_after"]), 0)

    async def pop(self, count: int = 3) -> int:
        answer = await self._edit("POST", f"{OWN}/{self.id}/pop", json={"count": count})
        return int(answer.json()["removed"])

    async def rethink(self, text: str) -> None:
        await self._edit("POST", f"{OWN}/{self.id}/rethink", json={"text": text})

    async def rewrite(self, text: str) -> None:
        await self._edit("POST", f"{OWN}/{self.id}/rewrite", json={"text": text})

    # ----------------------------------------------------------------- memory

    async def update_block(self, label: str, value: str, limit: int | None = None) -> bool:
        body: dict[str, Any] = {"value": value} | ({"limit": limit} if limit is not None else {})
        path = f"{LETTA}/{self.id}/core-memory/blocks/{label}"
        return _changed(await self._edit("PATCH", path, json=body))

    async def insert_archival(self, text: str) -> str:
        added = await self.connection.call("POST", f"{LETTA}/{self.id}/archival-memory", json={"text": text})
        return str(added[0]["id"])

    async def update_archival(self, passage_id: str, text: str) -> None:
        await self.connection.call("PATCH", f"{OWN}/{self.id}/archival/{passage_id}", json={"text": text})

    async def delete_archival(self, passage_id: str) -> None:
        await self.connection.call("DELETE", f"{LETTA}/{self.id}/archival-memory/{passage_id}")

    # ----------------------------------------------------------------- search

    async def older_messages(self, before_id: str | None, limit: int) -> list[Message]:
        params: dict[str, Any] = {"limit": limit} | ({"before": before_id} if before_id else {})
        found = await self.connection.call("GET", f"{OWN}/{self.id}/history", params=params)
        return [Message.model_validate(m) for m in found]

    async def _recall(self, **params: Any) -> Page[Message]:
        params = {k: v for k, v in params.items() if v is not None}  # no size: the agent's own
        found = await self.connection.call("GET", f"{OWN}/{self.id}/recall/stored", params=params)
        return Page[Message].model_validate(found)

    async def search_recall(self, query: str, page: int = 0, size: int | None = None) -> Page[Message]:
        return await self._recall(query=query, page=page, size=size)

    async def search_recall_by_date(
        self, start: date, end: date, page: int = 0, size: int | None = None
    ) -> Page[Message]:
        return await self._recall(start=start.isoformat(), end=end.isoformat(), page=page, size=size)

    async def find_messages(self, query: str) -> list[str]:
        found = await self._recall(query=query, page=0, size=1000)
        return sorted(m.id for m in found.items)

    async def _archival(self, **params: Any) -> Page[Passage]:
        params = {k: v for k, v in params.items() if v is not None}
        found = await self.connection.call("GET", f"{OWN}/{self.id}/archival", params=params)
        return Page[Passage].model_validate(found)

    async def search_archival(self, query: str, page: int = 0, size: int | None = None) -> Page[Passage]:
        return await self._archival(query=query, page=page, size=size)

    async def list_archival(self, page: int = 0, size: int | None = None) -> Page[Passage]:
        return await self._archival(page=page, size=size)

    # ------------------------------------------------------------ checkpoints

    async def save(self, label: str | None = None) -> CheckpointInfo:
        info = await self.connection.call("POST", f"{OWN}/{self.id}/checkpoints", json={"label": label})
        return CheckpointInfo.model_validate(info)

    async def checkpoints(self) -> list[CheckpointInfo]:
        """Oldest first, as the engine lists them."""
        found = await self.connection.call("GET", f"{OWN}/{self.id}/checkpoints")
        return [CheckpointInfo.model_validate(c) for c in reversed(found)]

    async def checkpoint_state(self, checkpoint_id: str) -> AgentState:
        found = await self.connection.call("GET", f"{OWN}/{self.id}/checkpoints/{checkpoint_id}/state")
        return AgentState.model_validate(found)

    async def restore(self, checkpoint_id: str) -> CheckpointInfo:
        info = await self._edit("POST", f"{OWN}/{self.id}/checkpoints/{checkpoint_id}/restore")
        return CheckpointInfo.model_validate(info.json())

    # ----------------------------------------------------------------- export

    async def export_to(self, file: Path, fmt: str | None) -> Path:
        """The server writes the export; it is saved here, at ``file``."""
        suffixes = {".af": "af", ".agent": "af", ".zip": "memgpt-tui"}
        chosen = fmt or suffixes.get(file.suffix.lower(), "md")
        path = f"{OWN}/{self.id}/export"
        data = await self.connection.call("GET", path, raw=True, params={"format": chosen})
        await asyncio.to_thread(file.write_bytes, data)
        return file


def _changed(answer: httpx.Response) -> bool:
    """Whether an edit changed anything: it did unless its answer says otherwise (a block's save says)."""
    return answer.headers.get(wire.CHANGED_HEADER) != "false"
