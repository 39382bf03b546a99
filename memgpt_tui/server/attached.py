"""The paths an attached TUI reads (``memgpt-tui --server``), under ``/v1/x-memgpt/``: what it shows, in
the shapes of ``model/`` (stored messages, pages, agent states), so that the remote agent hands the
screens exactly what a local one would."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from .. import wire
from .context import App, Found
from .own import Searched

router = APIRouter(prefix="/v1/x-memgpt/agents/{agent_id}", tags=["memgpt-tui"])


@router.get("/view")
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


@router.get("/history")
async def history(
    found: Found, app: App, before: str | None = None, limit: int = Query(50, ge=1, le=1000)
) -> list[dict[str, Any]]:
    """Recall just before the message ``before`` (the newest when left out), oldest first."""
    agent = await app.pool.agent(found)
    return [m.model_dump(mode="json") for m in await agent.older_messages(before, limit)]


@router.get("/recall/stored")
async def recall(result: Searched) -> dict[str, Any]:
    """Recall search by text or by dates (as ``.../recall``), as pages of stored messages."""
    return result.model_dump(mode="json")


@router.get("/archival")
async def archival(
    found: Found,
    app: App,
    query: str | None = None,
    page: int = Query(0, ge=0),
    size: int = Query(20, ge=1, le=1000),
) -> dict[str, Any]:
    """A page of archival memory: the passages closest to ``query``, or all of them, newest first."""
    agent = await app.pool.agent(found)
    if query:
        return (await agent.search_archival(query, page, size)).model_dump(mode="json")
    return (await agent.list_archival(page, size)).model_dump(mode="json")


@router.get("/checkpoints/{checkpoint_id}/state")
async def checkpoint_state(checkpoint_id: str, found: Found, app: App) -> dict[str, Any]:
    agent = await app.pool.agent(found)
    return (await agent.checkpoint_state(checkpoint_id)).model_dump(mode="json")
