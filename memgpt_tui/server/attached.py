"""The paths an attached TUI reads (``memgpt-tui --server``), under ``/v1/x-memgpt/``: what it shows, in
the shapes of ``model/`` (stored messages, pages, agent states), so that the remote agent hands the
screens exactly what a local one would; and what else the TUI does that the other paths lack (a manual
heartbeat, a memory warning, editing a passage, importing any of our formats, catching up)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile

from .. import wire
from . import letta
from .context import App, Found, Owner
from .own import Searched, Text, _turn

router = APIRouter(prefix="/v1/x-memgpt", tags=["memgpt-tui"])
AGENT = "/agents/{agent_id}"
CATCH_UP_PAGE = 500  # recall read per round while catching up


@router.get(AGENT + "/view")
async def view(found: Found, app: App) -> dict[str, Any]:
    """The agent's snapshot (``model.view.AgentView``) and what else the main screen reads at once."""
    agent = await app.pool.agent(found)
    snapshot = agent.snapshot()
    context = agent.last_context
    return {
        "name": found.name,
        "config": snapshot.config.model_dump(mode="json"),
        "blocks": [b.model_dump(mode="json") for b in snapshot.blocks],
        "summary": snapshot.summary,
        "step": snapshot.step,
        "in_context": [m.model_dump(mode="json") for m in snapshot.in_context],
        "recall_messages": snapshot.recall_messages,
        "archival_memories": snapshot.archival_memories,
        "context": wire.record(context) if context else None,
        "unanswered": agent.unanswered(),
        "message_chars": agent.limits.message_chars,
    }


@router.get(AGENT + "/history")
async def history(
    found: Found, app: App, before: str | None = None, limit: int = Query(50, ge=1, le=1000)
) -> list[dict[str, Any]]:
    """Recall just before the message ``before`` (the newest when left out), oldest first."""
    agent = await app.pool.agent(found)
    return [m.model_dump(mode="json") for m in await agent.older_messages(before, limit)]


@router.get(AGENT + "/history/after")
async def history_after(
    found: Found, app: App, after: str, limit: int = Query(5000, ge=1, le=100_000)
) -> dict[str, Any]:
    """Recall after the message ``after``, oldest first (at most ``limit``, the newest kept): what a
    client missed while it was away. ``continuous`` is false when ``after`` is no longer in recall (a
    pop or a restore took it): the client then reads the history again whole."""
    agent = await app.pool.agent(found)
    newer: list[dict[str, Any]] = []
    before: str | None = None
    while len(newer) < limit:
        page = await agent.older_messages(before, CATCH_UP_PAGE)
        fresh = [m for m in page if m.id > after]
        newer[:0] = [m.model_dump(mode="json") for m in fresh]
        if len(fresh) < len(page):
            return {"messages": newer[-limit:], "continuous": page[len(page) - len(fresh) - 1].id == after}
        if len(page) < CATCH_UP_PAGE:
            return {"messages": newer[-limit:], "continuous": False}
        before = page[0].id
    return {"messages": newer[-limit:], "continuous": False}


@router.get(AGENT + "/recall/stored")
async def recall(result: Searched) -> dict[str, Any]:
    """Recall search by text or by dates (as ``.../recall``), as pages of stored messages."""
    return result.model_dump(mode="json")


@router.get(AGENT + "/archival")
async def archival(
    found: Found,
    app: App,
    query: str | None = None,
    page: int = Query(0, ge=0),
    size: int | None = Query(None, ge=1, le=1000),
) -> dict[str, Any]:
    """A page of archival memory: the passages closest to ``query``, or all of them, newest first."""
    agent = await app.pool.agent(found)
    if query:
        return (await agent.search_archival(query, page, size)).model_dump(mode="json")
    return (await agent.list_archival(page, size)).model_dump(mode="json")


@router.patch(AGENT + "/archival/{passage_id}")
async def edit_passage(passage_id: str, body: Text, found: Found, app: App) -> dict[str, str]:
    agent = await app.pool.idle(found)
    await agent.update_archival(passage_id, body.text)
    return {"id": passage_id}


@router.get(AGENT + "/checkpoints/{checkpoint_id}/state")
async def checkpoint_state(checkpoint_id: str, found: Found, app: App) -> dict[str, Any]:
    agent = await app.pool.agent(found)
    return (await agent.checkpoint_state(checkpoint_id)).model_dump(mode="json")


@router.post(AGENT + "/heartbeat")
async def heartbeat(found: Found, app: App) -> dict[str, Any]:
    return await _turn(app, found, lambda agent: agent.heartbeat())


@router.post(AGENT + "/memory-warning")
async def memory_warning(found: Found, app: App) -> dict[str, Any]:
    return await _turn(app, found, lambda agent: agent.memory_warning())


@router.post("/agents/import")
async def import_file(
    file: Annotated[UploadFile, File()], who: Owner, app: App, name: Annotated[str | None, Form()] = None
) -> dict[str, Any]:
    """One agent from a memgpt-tui export (named after the file unless ``name``) or a Letta Agent File,
    through Letta's import, which takes both; answers its id and name."""
    data = await file.read()
    await file.seek(0)
    if zipfile.is_zipfile(io.BytesIO(data)):
        wanted = name or Path(file.filename or "agent").stem
    else:
        wanted = name or letta.agent_file_name(data)
    answer = await letta.import_agent(file, who, app, override_name=wanted)
    return {"id": answer["agent_ids"][0], "name": wanted}
