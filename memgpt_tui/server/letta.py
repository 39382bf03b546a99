"""The part of Letta's REST API that MemGPT-style programs use, as ``letta-client`` 1.12.1 calls it."""

from __future__ import annotations

import asyncio
import functools
import json
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from .. import resume, runtime, wire
from ..config import ConfigError
from ..engine.agent import Agent
from ..model.errors import AgentError, AgentLocked, NotFound, StoreError
from ..model.records import Passage
from ..model.state import free_agent_name
from ..transfer.formats import export_open
from . import shapes
from .context import AgentRecord, App, Found, Owner, Server
from .feed import Feed

API_VERSION = "1"  # of our own paths, under /v1/x-memgpt/

router = APIRouter(prefix="/v1")

Order = Literal["asc", "desc"]


class _Body(BaseModel):
    """Letta's bodies carry many fields; the ones we do not know are kept aside, then checked."""

    model_config = ConfigDict(extra="allow")

    def refuse(self, fields: Sequence[str]) -> None:
        """422 naming the first field set that would ask for behaviour this server does not have."""
        given = {**(self.model_extra or {}), **self.model_dump(exclude_unset=True)}
        for name in fields:
            if given.get(name) not in (None, [], {}, False):
                raise HTTPException(422, f"{name!r} is not supported by this server (MemGPT agents only).")


# ---------------------------------------------------------------------------- health, models


@router.get("/health/")
async def health() -> dict[str, str]:
    return {"status": "ok", "version": f"memgpt-tui {_version()}", "x_memgpt_api": API_VERSION}


def _version() -> str:
    try:
        return metadata.version("memgpt-tui")
    except metadata.PackageNotFoundError:
        return "unknown"


@router.get("/models/")
async def models(app: App, who: Owner) -> list[dict[str, Any]]:
    return [shapes.model(*m) for m in shapes.model_handles(app.settings)]


@router.get("/models/embedding")
async def embedding_models(app: App, who: Owner) -> list[dict[str, Any]]:
    embedder = await asyncio.to_thread(runtime.embedder_for, app.settings)
    return [shapes.embedding_model(app.settings.embedding_backend, embedder.model, embedder.dim)]


# ---------------------------------------------------------------------------- agents

AGENT_REFUSED = (
    "tools", "tool_ids", "tool_rules", "block_ids", "source_ids", "folder_ids", "identity_ids",
    "initial_message_sequence", "enable_sleeptime", "response_format", "secrets",
    "tool_exec_environment_variables", "from_template", "template_id", "model_settings", "llm_config",
    "embedding_config", "compaction_settings", "memory_variables",
)  # fmt: skip


class BlockIn(BaseModel):
    label: str
    value: str
    limit: int | None = None
    description: str | None = None


class AgentIn(_Body):
    name: str | None = None
    agent_type: str | None = None
    memory_blocks: list[BlockIn] = []
    model: str | None = None
    embedding: str | None = None
    context_window_limit: int | None = None
    system: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None


class AgentPatch(_Body):
    name: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None


def page(items: list[Any], after: str | None, before: str | None, limit: int | None) -> list[Any]:
    """Letta's cursors over ``items`` (already in the asked order, each with an ``id``): those after
    ``after`` and before ``before``, the first ``limit`` of them (the last ones when only ``before``)."""
    ids = [_id(i) for i in items]
    start = ids.index(after) + 1 if after in ids else (len(ids) if after else 0)
    stop = ids.index(before) if before in ids else (0 if before else len(ids))
    chosen = items[start:stop] if start < stop else []
    if limit is not None and limit >= 0:
        chosen = chosen[-limit:] if (before and not after and limit) else chosen[:limit]
    return chosen


def _id(item: Any) -> str:
    return str(item["id"] if isinstance(item, dict) else item.id)


@router.get("/agents/")
async def list_agents(
    who: Owner,
    app: App,
    after: str | None = None,
    before: str | None = None,
    limit: int | None = Query(None, ge=0),
    order: Order = "desc",
    name: str | None = None,
) -> list[dict[str, Any]]:
    records = await app.call("agents", who)
    if name is not None:
        records = [r for r in records if r.name == name]
    chosen = page(records if order == "asc" else records[::-1], after, before, limit)
    return [await _listed(app, r) for r in chosen]


async def _listed(app: Server, found: AgentRecord) -> dict[str, Any]:
    """An agent in a list: from the preview it left when it closed, so that listing opens nothing;
    an agent open in another process (a TUI) shows its name and id alone."""
    if app.pool.opened(found.id) is None:
        settings = app.pool.settings_for(found.root)
        previewed = await asyncio.to_thread(resume.from_preview, settings, found.dir)
        if previewed is not None:
            return shapes.agent_state(found.id, found.name, previewed)
    try:
        return await _state(app, found)
    except (AgentLocked, ConfigError, StoreError, NotFound):  # open elsewhere, or unusable: still listed
        return {"id": found.id, "name": found.name, "agent_type": shapes.AGENT_TYPE, "blocks": [], "tags": []}


async def _state(app: Server, found: AgentRecord) -> dict[str, Any]:
    return shapes.agent_state(found.id, found.name, await app.pool.agent(found))


@router.post("/agents/")
async def create_agent(body: AgentIn, who: Owner, app: App) -> dict[str, Any]:
    body.refuse(AGENT_REFUSED)
    if body.agent_type not in (None, shapes.AGENT_TYPE):
        raise HTTPException(
            422, f"agent_type {body.agent_type!r} is not supported: this server runs MemGPT agents."
        )
    overrides = _agent_overrides(app, body)
    name = body.name or free_agent_name({r.name for r in await app.call("agents", who)})
    created = await app.call("add_agent", who, name)
    try:
        settings = app.pool.settings_for(created.root).model_copy(update=overrides)
        agent = await app.pool.create(created, settings, body.system)
        await _set_blocks(agent, body.memory_blocks)
        described = {k: v for k in ("description", "tags", "metadata") if (v := getattr(body, k)) is not None}
        if described:
            await agent.annotate(**described)
    except BaseException:
        await app.pool.delete(created, lambda: asyncio.to_thread(_remove, app, created))
        raise
    return shapes.agent_state(created.id, created.name, agent)


def _remove(app: Server, found: AgentRecord) -> None:
    settings = app.pool.settings_for(found.root)
    if runtime.agent_exists(settings, found.dir):
        runtime.delete_agent(settings, found.dir)
    app.accounts.remove_agent(found.owner, found.id)


ANY_MODEL = ("openai", "openai-compatible", "embedded")  # backends a request may name any model of


def _agent_overrides(app: Server, body: AgentIn) -> dict[str, Any]:
    """The settings a new agent takes from the request: its model, embedding and window."""
    overrides: dict[str, Any] = {}
    if body.model is not None:
        offered = {f"{b}/{m}": (b, m) for b, m, _ in shapes.model_handles(app.settings)}
        backend, _, name = body.model.partition("/")
        if body.model not in offered and not (backend in ANY_MODEL and name):
            raise HTTPException(
                422, f"model {body.model!r} is not a handle this server offers: {', '.join(offered)}."
            )
        overrides.update(backend=backend, model=name)
    if body.embedding is not None:
        backend, _, name = body.embedding.partition("/")
        if backend not in ("embedded", "openai-compatible") or not name:
            raise HTTPException(
                422,
                f"embedding {body.embedding!r} is not a handle this server offers (see /v1/models/embedding).",
            )
        overrides.update(embedding_backend=backend, embedding_model=name)
    if body.context_window_limit is not None:
        overrides["context_window"] = body.context_window_limit
    return overrides


async def _set_blocks(agent: Agent, blocks: list[BlockIn]) -> None:
    for item in blocks:
        if agent.state.block(item.label) is None:
            await agent.add_block(item.label, item.value, item.limit, item.description)
        else:
            await agent.update_block(item.label, item.value, item.limit, item.description)


@router.get("/agents/{agent_id}")
async def retrieve_agent(found: Found, app: App) -> dict[str, Any]:
    return await _state(app, found)


@router.patch("/agents/{agent_id}")
async def update_agent(body: AgentPatch, found: Found, app: App) -> dict[str, Any]:
    extra = [k for k, v in (body.model_extra or {}).items() if v is not None]
    if extra:
        raise HTTPException(
            422, f"{extra[0]!r} cannot be changed on this server (name, description, tags, metadata can)."
        )
    agent = await app.pool.idle(found)
    if body.name is not None and body.name != found.name:
        found = await app.call("rename_agent", found.owner, found.id, body.name)
    described = {k: v for k in ("description", "tags", "metadata") if (v := getattr(body, k)) is not None}
    if described:
        await agent.annotate(**described)
    return shapes.agent_state(found.id, found.name, agent)


@router.delete("/agents/{agent_id}")
async def delete_agent(found: Found, app: App) -> dict[str, Any]:
    await app.pool.delete(found, lambda: asyncio.to_thread(_remove, app, found))
    return {"deleted": found.id}


@router.get("/agents/{agent_id}/export")
async def export_agent(found: Found, app: App) -> Response:
    return Response(await export_text(app, found, "af"), media_type="application/json")


async def export_text(app: Server, found: AgentRecord, fmt: str) -> bytes:
    agent = await app.pool.idle(found)
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / f"export.{fmt}"
        await asyncio.to_thread(export_open, agent.store, agent.state, file, fmt)
        return file.read_bytes()


@router.post("/agents/import")
async def import_agent(
    file: Annotated[UploadFile, File()],
    who: Owner,
    app: App,
    override_name: Annotated[str | None, Form()] = None,
    name: Annotated[str | None, Form()] = None,
) -> dict[str, Any]:
    data = await file.read()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.af"
        path.write_bytes(data)
        wanted = override_name or name or agent_file_name(data)
        created = await app.call("add_agent", who, wanted)
        try:
            # the file's model and embedding endpoints are not taken (an export naming others is
            # refused): the server's key would go to them
            await asyncio.to_thread(
                functools.partial(
                    runtime.import_agent,
                    app.pool.settings_for(created.root),
                    path,
                    created.dir,
                    source_model=False,
                    source_embedding=False,
                )
            )
        except BaseException:
            await asyncio.to_thread(app.accounts.remove_agent, created.owner, created.id)
            raise
    return {"agent_ids": [created.id]}


def agent_file_name(data: bytes) -> str:
    try:
        parsed = json.loads(data)
        agents = parsed.get("agents") if isinstance(parsed, dict) else None
        found = agents[0]["name"] if agents else parsed["name"]
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        raise HTTPException(422, "The file is not a Letta Agent File (JSON with an agent's name).") from None
    return str(found)


# ---------------------------------------------------------------------------- messages

MESSAGE_REFUSED = ("client_tools", "client_skills", "override_model", "override_system", "background")


LETTA_MESSAGE_TYPES = Literal[
    "system_message", "user_message", "assistant_message", "reasoning_message", "hidden_reasoning_message",
    "tool_call_message", "tool_return_message", "approval_request_message", "approval_response_message",
    "summary_message", "event_message",
]  # fmt: skip


class MessageIn(_Body):
    messages: list[dict[str, Any]] | None = None
    input: str | list[dict[str, Any]] | None = None
    streaming: bool = False
    stream_tokens: bool = False
    use_assistant_message: bool = True
    include_return_message_types: list[LETTA_MESSAGE_TYPES] | None = None
    max_steps: int | None = Field(None, ge=1)

    def feed(self, *, tokens: bool = False) -> Feed:
        return Feed(
            tokens=tokens, assistant=self.use_assistant_message, kinds=self.include_return_message_types
        )

    def send(self, text: str) -> Callable[[Agent], Coroutine[Any, Any, None]]:
        return lambda agent: agent.send(text, self.max_steps)

    def text(self) -> str:
        parts: list[str] = []
        if isinstance(self.input, str):
            parts.append(self.input)
        for item in self.messages or (self.input if isinstance(self.input, list) else []):
            if item.get("role", "user") != "user":
                raise HTTPException(422, "Only messages with role 'user' can be sent to an agent.")
            parts.append(_content_text(item.get("content", item.get("text"))))
        text = "\n".join(p for p in parts if p)
        if not text.strip():
            raise HTTPException(422, "The request has no text to send: give 'messages' or 'input'.")
        return text


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [c.get("text") for c in content if isinstance(c, dict) and c.get("type", "text") == "text"]
        if len(texts) != len(content) or not all(isinstance(t, str) for t in texts):
            raise HTTPException(422, "Only text content can be sent to an agent.")
        return "\n".join(texts)  # type: ignore[arg-type]
    raise HTTPException(422, "A message's content must be text or a list of text parts.")


@router.post("/agents/{agent_id}/messages")
async def send_message(body: MessageIn, found: Found, app: App) -> Response:
    body.refuse(MESSAGE_REFUSED)
    text = body.text()
    if body.streaming:
        return await _stream(app, found, body, text)
    feed = body.feed()
    await _refuse_too_long(app, found, text)
    await app.pool.run(found, body.send(text), feed)
    if feed.error and not feed.steps:
        raise HTTPException(422 if feed.refused else 502, feed.error)
    stop, usage = feed.tail()
    # the records are plain JSON already: answered as they are, not validated and copied again
    return JSONResponse({"messages": feed.records, "stop_reason": stop, "usage": usage})


@router.post("/agents/{agent_id}/messages/stream")
async def stream_message(body: MessageIn, found: Found, app: App) -> StreamingResponse:
    body.refuse(MESSAGE_REFUSED)
    return await _stream(app, found, body, body.text())


async def _stream(app: Server, found: AgentRecord, body: MessageIn, text: str) -> StreamingResponse:
    feed = body.feed(tokens=body.stream_tokens)
    await _refuse_too_long(app, found, text)
    task, unsubscribe = await app.pool.start(found, body.send(text), feed)
    task.add_done_callback(lambda _: feed.end())
    return StreamingResponse(_events(feed, unsubscribe), media_type="text/event-stream")


async def _refuse_too_long(app: Server, found: AgentRecord, text: str) -> None:
    """A text over the message limit is a 422, before a turn starts and keeps anything."""
    if refusal := (await app.pool.agent(found)).refusal(text):
        raise HTTPException(422, refusal)


async def _events(feed: Feed, unsubscribe: Any) -> AsyncIterator[str]:
    try:
        while (item := await feed.queue.get()) is not None:
            yield sse(item)
        if feed.error and not feed.steps:
            error = {
                "message_type": "error_message",
                "error_type": "llm_error",
                "message": feed.error,
                "run_id": "",
            }
            yield f"event: error\ndata: {json.dumps(error)}\n\n"
            return
        for item in feed.tail():
            yield sse(item)
        yield "data: [DONE]\n\n"
    finally:
        unsubscribe()


def sse(item: dict[str, Any]) -> str:
    return f"data: {json.dumps(item, ensure_ascii=False)}\n\n"


@router.get("/agents/{agent_id}/messages")
async def list_messages(
    found: Found,
    app: App,
    after: str | None = None,
    before: str | None = None,
    limit: int = Query(100, ge=0),
    order: Order = "desc",
) -> list[dict[str, Any]]:
    """Letta's cursors, read from recall a chunk at a time (recall ids sort by time): from ``after``
    (or the list's start) in the list's order up to ``before``; with ``before`` alone, the ``limit``
    messages closest to it."""
    agent = await app.pool.agent(found)
    newest_first = order == "desc"
    if after is not None or before is None:
        chosen = await _walk(agent, after, before, limit, newer=not newest_first)
    else:
        chosen = (await _walk(agent, before, None, limit, newer=newest_first))[::-1]
    records = (wire.message_records(m) for m in chosen)
    return [item for items in records for item in (items[::-1] if newest_first else items)]


async def _walk(agent: Agent, cursor: str | None, stop: str | None, limit: int, *, newer: bool) -> list[Any]:
    """Up to ``limit`` messages with something to show, past ``cursor`` (exclusive) towards the newer
    (oldest first) or the older (newest first), short of ``stop``."""
    chosen: list[Any] = []
    chunk = 2 * limit + 8  # a reply's hidden function result and such are skipped
    while len(chosen) < limit:
        read = await (agent.newer_messages if newer else agent.older_messages)(cursor, chunk)
        for message in read if newer else reversed(read):
            if stop is not None and (message.id >= stop if newer else message.id <= stop):
                return chosen[:limit]
            if wire.message_records(message):
                chosen.append(message)
        if len(read) < chunk:
            break
        cursor = read[-1].id if newer else read[0].id
    return chosen[:limit]


@router.post("/agents/{agent_id}/messages/cancel")
async def cancel(found: Found, app: App) -> dict[str, Any]:
    return {"cancelled": app.pool.cancel(found)}


@router.post("/agents/{agent_id}/summarize")
async def summarize(found: Found, app: App) -> dict[str, Any]:
    agent = await app.pool.idle(found)
    before = len(agent.buffer)
    await agent.summarize_now()
    return {
        "num_messages_before": before,
        "num_messages_after": len(agent.buffer),
        "summary": agent.state.summary or "",
    }


# ---------------------------------------------------------------------------- core memory


class BlockPatch(_Body):
    value: str | None = None
    limit: int | None = None
    description: str | None = None


@router.get("/agents/{agent_id}/core-memory/blocks")
async def list_blocks(
    found: Found,
    app: App,
    after: str | None = None,
    before: str | None = None,
    limit: int | None = Query(None, ge=0),
    order: Order = "asc",
) -> list[dict[str, Any]]:
    agent = await app.pool.agent(found)
    blocks = [shapes.block(found.id, b) for b in agent.snapshot().blocks]
    return page(blocks if order == "asc" else blocks[::-1], after, before, limit)


@router.get("/agents/{agent_id}/core-memory/blocks/{block_label}")
async def get_block(block_label: str, found: Found, app: App) -> dict[str, Any]:
    agent = await app.pool.agent(found)
    return shapes.block(found.id, _block(agent, block_label))


def _block(agent: Agent, label: str) -> Any:
    block = agent.state.block(label)
    if block is None:
        raise HTTPException(404, f"No core memory block labelled {label!r}.")
    return block.model_copy()


@router.patch("/agents/{agent_id}/core-memory/blocks/{block_label}")
async def update_block(
    block_label: str, body: BlockPatch, found: Found, app: App, response: Response
) -> dict[str, Any]:
    body.refuse(("label", "read_only", "is_template", "template_name", "template_id"))
    agent = await app.pool.idle(found)
    current = _block(agent, block_label)
    try:
        value = current.value if body.value is None else body.value
        changed = await agent.update_block(block_label, value, body.limit, body.description)
    except AgentError as exc:
        raise HTTPException(422, str(exc)) from None
    response.headers[wire.CHANGED_HEADER] = str(changed).lower()
    return shapes.block(found.id, _block(agent, block_label))


# ---------------------------------------------------------------------------- archival memory


class PassageIn(_Body):
    text: str
    tags: list[str] | None = None


@router.get("/agents/{agent_id}/archival-memory")
async def list_passages(
    found: Found,
    app: App,
    after: str | None = None,
    before: str | None = None,
    limit: int | None = Query(None, ge=0),
    ascending: bool = True,
    search: str | None = None,
) -> list[dict[str, Any]]:
    agent = await app.pool.agent(found)
    size = max(agent.archival_count, 1)
    if search:
        items = (await agent.search_archival(search, 0, size)).items
    else:
        items = sorted((await agent.list_archival(0, size)).items, key=lambda p: (p.created_at, p.id))
        items = items if ascending else items[::-1]
    return [shapes.passage(p) for p in page(items, after, before, limit)]


@router.post("/agents/{agent_id}/archival-memory")
async def insert_passage(body: PassageIn, found: Found, app: App) -> list[dict[str, Any]]:
    body.refuse(("created_at",))
    agent = await app.pool.idle(found)
    passage_id = await agent.insert_archival(body.text, body.tags or ())
    items = (await agent.list_archival(0, max(agent.archival_count, 1))).items
    return [shapes.passage(p) for p in items if p.id == passage_id]


@router.get("/agents/{agent_id}/archival-memory/search")
async def search_passages(
    found: Found,
    app: App,
    query: str,
    top_k: int | None = Query(None, ge=1),
    tags: Annotated[list[str] | None, Query()] = None,
    tag_match_mode: Literal["any", "all"] = "any",
    start_datetime: datetime | None = None,
    end_datetime: datetime | None = None,
) -> dict[str, Any]:
    agent = await app.pool.agent(found)
    wanted = top_k or 10
    narrowed = bool(tags) or start_datetime is not None or end_datetime is not None
    # narrowed: the whole archive ranked, then filtered, so that top_k are found if they exist
    ranked = (
        await agent.search_archival(query, 0, max(agent.archival_count, 1) if narrowed else wanted)
    ).items
    filters = (set(tags or ()), tag_match_mode, start_datetime, end_datetime)
    items = [p for p in ranked if _kept(p, *filters)][:wanted]
    results = [
        {"id": p.id, "content": p.text, "timestamp": p.created_at.isoformat(), "tags": shapes.tags(p)}
        for p in items
    ]
    return {"count": len(results), "results": results}


def _kept(item: Passage, tags: set[str], mode: str, start: datetime | None, end: datetime | None) -> bool:
    """Letta's search filters: the tags (any or all of them) and the dates, inclusive."""
    have = set(shapes.tags(item))
    if tags and not (tags <= have if mode == "all" else tags & have):
        return False
    when = item.created_at
    return (start is None or when >= _aware(start)) and (end is None or when <= _aware(end))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.delete("/agents/{agent_id}/archival-memory/{memory_id}")
async def delete_passage(memory_id: str, found: Found, app: App) -> JSONResponse:
    agent = await app.pool.idle(found)
    await agent.delete_archival(memory_id)
    return JSONResponse({"deleted": memory_id})
