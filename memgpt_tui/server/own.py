"""memgpt-tui's own paths, under ``/v1/x-memgpt/``: what the TUI needs and Letta has no path for (the
engine's event stream, checkpoints, history edits, recall search, our export, the picker's counts)."""

from __future__ import annotations

import asyncio
import difflib
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from .. import runtime, wire
from ..engine.agent import Agent
from ..model.clock import new_id, now
from ..model.messages import Message
from ..model.records import CheckpointInfo, Page, undo_target
from ..model.state import AgentState
from .context import AgentRecord, App, Found, Owner, Server
from .feed import Feed
from .letta import export_text, sse

router = APIRouter(prefix="/v1/x-memgpt", tags=["memgpt-tui"])


@router.get("/agents")
async def picker(who: Owner, app: App) -> list[dict[str, Any]]:
    """The caller's agents with the picker's counts, read without opening them."""
    records = await app.call("agents", who)
    rows = []
    for root in {r.root for r in records}:
        infos = {i.name: i for i in await asyncio.to_thread(runtime.agent_infos, app.pool.settings_for(root))}
        for r in (r for r in records if r.root == root):
            info = infos.get(r.dir)
            counts = info.model_dump(mode="json", exclude={"name"}) if info else {}
            if (agent := app.pool.opened(r.id)) is not None:  # its file lags while it is open
                config = agent.snapshot().config
                counts.update(
                    messages=agent.recall_count,
                    archival=agent.archival_count,
                    backend=config.backend,
                    model=config.model,
                )
            rows.append({"id": r.id, "name": r.name, "open": agent is not None, **counts})
    return rows


@router.get("/agents/{agent_id}")
async def view(found: Found, app: App) -> dict[str, Any]:
    """What a UI shows: blocks, summary, the messages in context (as wire records) and the context's
    token breakdown."""
    agent = await app.pool.agent(found)
    snapshot = agent.snapshot()
    context = agent.last_context
    return {
        "id": found.id,
        "name": found.name,
        "config": snapshot.config.model_dump(mode="json"),
        "blocks": [b.model_dump() for b in snapshot.blocks],
        "summary": snapshot.summary,
        "step": snapshot.step,
        "in_context": [item for m in snapshot.in_context for item in wire.message_records(m)],
        "recall_messages": snapshot.recall_messages,
        "archival_memories": snapshot.archival_memories,
        "context": wire.record(context) if context else None,
        "unanswered": agent.unanswered(),
    }


@router.get("/agents/{agent_id}/events")
async def events(request: Request, found: Found, app: App) -> StreamingResponse:
    """Every engine event of the agent as a wire record, as it happens, until the client leaves."""
    await app.pool.agent(found)  # a 409 now if another process has it, rather than mid-stream

    async def stream() -> AsyncIterator[str]:
        async with app.pool.watched(found) as agent:
            queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
            unsubscribe = agent.subscribe(lambda event: queue.put_nowait(wire.record(event)))
            stopping = asyncio.ensure_future(app.stopping.wait())
            try:
                yield ": listening\n\n"
                while not await request.is_disconnected():
                    item = asyncio.ensure_future(queue.get())
                    done, _ = await asyncio.wait(
                        {item, stopping}, timeout=15, return_when=asyncio.FIRST_COMPLETED
                    )
                    if item not in done:
                        item.cancel()
                        if stopping in done:
                            return
                        yield ": ping\n\n"
                        continue
                    yield sse({"id": new_id(), "date": now().isoformat(), **item.result()})
            finally:
                stopping.cancel()
                unsubscribe()

    return StreamingResponse(stream(), media_type="text/event-stream")


# ---------------------------------------------------------------------------- turns and edits


class Text(BaseModel):
    text: str = Field(min_length=1)


class Count(BaseModel):
    count: int = Field(3, ge=1)


async def _turn(
    app: Server, found: AgentRecord, work: Callable[[Agent], Coroutine[Any, Any, None]]
) -> dict[str, Any]:
    """Run a turn to its end and answer every record it produced, ours included."""
    feed = Feed(ours=True)
    await app.pool.run(found, work, feed)
    return {"records": feed.records, "stop_reason": feed.stop_reason}


@router.post("/agents/{agent_id}/messages")
async def send(body: Text, found: Found, app: App) -> dict[str, Any]:
    return await _turn(app, found, lambda agent: agent.send(body.text))


@router.post("/agents/{agent_id}/retry")
async def retry(found: Found, app: App) -> dict[str, Any]:
    return await _turn(app, found, lambda agent: agent.retry())


@router.post("/agents/{agent_id}/cancel")
async def cancel(found: Found, app: App) -> dict[str, bool]:
    """Cancel the turn in progress; the event stream says whether the user's text was given back."""
    return {"cancelled": app.pool.cancel(found)}


@router.post("/agents/{agent_id}/pop")
async def pop(body: Count, found: Found, app: App) -> dict[str, int]:
    agent = await app.pool.idle(found)
    return {"removed": await agent.pop(body.count)}


@router.post("/agents/{agent_id}/rethink")
async def rethink(body: Text, found: Found, app: App) -> dict[str, str]:
    agent = await app.pool.idle(found)
    await agent.rethink(body.text)
    return {"rethought": body.text}


@router.post("/agents/{agent_id}/rewrite")
async def rewrite(body: Text, found: Found, app: App) -> dict[str, str]:
    agent = await app.pool.idle(found)
    await agent.rewrite(body.text)
    return {"rewritten": body.text}


# ---------------------------------------------------------------------------- recall


async def recall_page(
    found: Found,
    app: App,
    query: str | None = None,
    start: date | None = None,
    end: date | None = None,
    page: int = Query(0, ge=0),
    size: int | None = Query(None, ge=1, le=1000),
) -> Page[Message]:
    """Recall search by text (``query``) or by date (``start`` and ``end``, inclusive), paged (by the
    agent's own page size unless ``size`` is given)."""
    agent = await app.pool.agent(found)
    if query is not None:
        return await agent.search_recall(query, page, size)
    if start is not None:
        return await agent.search_recall_by_date(start, end or start, page, size)
    raise HTTPException(422, "Give a text to search for (query) or dates (start, end).")


Searched = Annotated[Page[Message], Depends(recall_page)]


@router.get("/agents/{agent_id}/recall")
async def recall(result: Searched) -> dict[str, Any]:
    """Recall search by text (``query``) or by date (``start`` and ``end``, inclusive), paged."""
    records = [item for m in result.items for item in wire.message_records(m)]
    return {"records": records, "total": result.total, "page": result.page, "pages": result.pages}


# ---------------------------------------------------------------------------- checkpoints


class Label(BaseModel):
    label: str | None = None


@router.get("/agents/{agent_id}/checkpoints")
async def checkpoints(found: Found, app: App) -> list[dict[str, Any]]:
    """Newest first."""
    agent = await app.pool.agent(found)
    return [c.model_dump(mode="json") for c in reversed(await agent.checkpoints())]


@router.post("/agents/{agent_id}/checkpoints")
async def save(body: Label, found: Found, app: App) -> dict[str, Any]:
    agent = await app.pool.idle(found)
    return (await agent.save(body.label)).model_dump(mode="json")


@router.get("/agents/{agent_id}/checkpoints/{checkpoint_id}")
async def checkpoint(checkpoint_id: str, found: Found, app: App) -> dict[str, Any]:
    """One checkpoint and what restoring it would change: a unified diff per block and the summary."""
    agent = await app.pool.agent(found)
    info = _find(await agent.checkpoints(), checkpoint_id)
    then = await agent.checkpoint_state(checkpoint_id)
    return {**info.model_dump(mode="json"), "diff": memory_diff(agent.state, then)}


def _find(infos: list[CheckpointInfo], checkpoint_id: str) -> CheckpointInfo:
    found = next((c for c in infos if c.id == checkpoint_id), None)
    if found is None:
        raise HTTPException(404, f"No checkpoint with id {checkpoint_id!r}.")
    return found


def memory_diff(current: AgentState, then: AgentState) -> dict[str, str]:
    """Per block (and ``summary``): a unified diff from now to the checkpoint; unchanged ones left out."""
    old = {b.label: b.value for b in current.blocks} | {"summary": current.summary or ""}
    new = {b.label: b.value for b in then.blocks} | {"summary": then.summary or ""}
    out = {}
    for label in [*old, *(k for k in new if k not in old)]:
        if old.get(label) != new.get(label):
            lines = difflib.unified_diff(
                (old.get(label) or "").splitlines(),
                (new.get(label) or "").splitlines(),
                "now",
                "then",
                lineterm="",
            )
            out[label] = "\n".join(lines)
    return out


@router.post("/agents/{agent_id}/checkpoints/undo")
async def undo(found: Found, app: App) -> dict[str, Any]:
    """Undo the latest restore: go back to the head just before it."""
    agent = await app.pool.idle(found)
    target = undo_target(list(reversed(await agent.checkpoints())))
    if target is None:
        raise HTTPException(409, "No restore to undo.")
    return (await agent.restore(target.id)).model_dump(mode="json")


@router.post("/agents/{agent_id}/checkpoints/{checkpoint_id}/restore")
async def restore(checkpoint_id: str, found: Found, app: App) -> dict[str, Any]:
    agent = await app.pool.idle(found)
    _find(await agent.checkpoints(), checkpoint_id)
    return (await agent.restore(checkpoint_id)).model_dump(mode="json")


# ---------------------------------------------------------------------------- export

MEDIA = {"memgpt-tui": "application/zip", "af": "application/json", "md": "text/markdown"}


@router.get("/agents/{agent_id}/export")
async def export(
    found: Found,
    app: App,
    format: Literal["memgpt-tui", "af", "md"] = "memgpt-tui",
) -> Response:
    """The agent in one file: our own format (everything, for ``memgpt-tui import``), af or md."""
    data = await export_text(app, found, format)
    suffix = {"memgpt-tui": "zip"}.get(format, format)
    headers = {"Content-Disposition": _attachment(f"{found.name}.{suffix}")}
    return Response(data, media_type=MEDIA[format], headers=headers)


def _attachment(filename: str) -> str:
    """A Content-Disposition for any name (RFC 6266): the name itself in UTF-8, and a plain ASCII one
    for clients that read only that."""
    plain = re.sub(r'[^\x20-\x7e]|["\\]', "_", filename)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"
