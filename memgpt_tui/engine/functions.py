"""The agent's eight functions: argument models (validated before running), schemas, and execution."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, Field, ValidationError

from ..config import Limits
from ..model.clock import format_time, now
from ..model.messages import Message
from ..model.records import Page
from ..model.state import AgentState
from ..model.text import clean_value, size


class _Args(BaseModel):
    model_config = {"extra": "ignore"}


class _Heartbeat(_Args):
    request_heartbeat: bool = Field(
        False, description="Request an immediate heartbeat after the function runs, to keep thinking."
    )


class SendMessage(_Args):
    """Sends a message to the human user. The only way the user sees anything you say."""

    message: str = Field(description="Message contents. All unicode (including emojis) are supported.")


class PauseHeartbeats(_Args):
    """Temporarily ignore automatic heartbeats and memory warnings. Messages from the user and manual
    heartbeats still arrive."""

    minutes: int = Field(ge=0, le=360, description="Number of minutes to pause for (max 360).")


class CoreMemoryAppend(_Heartbeat):
    """Append to the contents of a core memory block."""

    label: str = Field(description="Block to edit, for example 'persona' or 'human'.")
    content: str = Field(description="Text to append. All unicode (including emojis) are supported.")


class CoreMemoryReplace(_Heartbeat):
    """Replace text in a core memory block. The old text must match exactly. Use an empty new_content to
    delete the old text."""

    label: str = Field(description="Block to edit, for example 'persona' or 'human'.")
    old_content: str = Field(description="Exact text to replace.")
    new_content: str = Field(description="Replacement text; empty to delete.")


class ConversationSearch(_Heartbeat):
    """Search prior conversation history (recall memory) for text."""

    query: str = Field(description="Text to search for.")
    page: int = Field(0, ge=0, description="Page of results (0 is the first).")


class ConversationSearchDate(_Heartbeat):
    """Search prior conversation history (recall memory) between two dates, inclusive."""

    start_date: date = Field(description="Start date, YYYY-MM-DD.")
    end_date: date = Field(description="End date, YYYY-MM-DD.")
    page: int = Field(0, ge=0, description="Page of results (0 is the first).")


class ArchivalMemoryInsert(_Heartbeat):
    """Add a passage to archival memory. Phrase it so it can be found later by a search."""

    content: str = Field(description="Passage to store. All unicode (including emojis) are supported.")


class ArchivalMemorySearch(_Heartbeat):
    """Search archival memory by meaning and keywords."""

    query: str = Field(description="What to search for.")
    page: int = Field(0, ge=0, description="Page of results (0 is the first).")


ARG_MODELS: dict[str, type[_Args]] = {
    "send_message": SendMessage,
    "pause_heartbeats": PauseHeartbeats,
    "core_memory_append": CoreMemoryAppend,
    "core_memory_replace": CoreMemoryReplace,
    "conversation_search": ConversationSearch,
    "conversation_search_date": ConversationSearchDate,
    "archival_memory_insert": ArchivalMemoryInsert,
    "archival_memory_search": ArchivalMemorySearch,
}
# Functions whose success satisfies first-message verification besides send_message.
SEARCHES = {"conversation_search", "conversation_search_date", "archival_memory_search"}


def _schema(name: str, model: type[_Args]) -> dict[str, Any]:
    full = model.model_json_schema()
    properties = {}
    for prop, spec in full["properties"].items():
        clean = {
            k: v for k, v in spec.items() if k in ("type", "description", "format", "minimum", "maximum")
        }
        if "format" in clean and clean["format"] == "date":
            clean["type"] = "string"
        properties[prop] = clean
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": " ".join((model.__doc__ or "").split()),
            "parameters": {"type": "object", "properties": properties, "required": full.get("required", [])},
        },
    }


TOOL_SCHEMAS: list[dict[str, Any]] = [_schema(name, model) for name, model in ARG_MODELS.items()]


class Recall(Protocol):
    """The slice of the store the functions use (async wrappers around the blocking store)."""

    async def search_messages(self, query: str, page: int) -> Page[Message]: ...
    async def search_messages_by_date(self, start: date, end: date, page: int) -> Page[Message]: ...
    async def archival_insert(self, text: str) -> None: ...
    async def archival_search(self, query: str, page: int) -> Page[Any]: ...


@dataclass
class Outcome:
    ok: bool
    message: str  # what the function returns to the model (before packaging)
    request_heartbeat: bool = False
    sent: str | None = None  # send_message text
    memory_edits: list[tuple[str, str, str]] = field(default_factory=list)  # (label, old, new)
    archival_changed: bool = False


def package_result(outcome: Outcome, limit: int) -> str:
    """MemGPT's function result envelope, cut to the configured length."""
    message = outcome.message
    if len(message) > limit:
        message = message[:limit] + f"... [truncated, {len(outcome.message) - limit} more characters]"
    return json.dumps(
        {"status": "OK" if outcome.ok else "Failed", "message": message, "time": format_time(now())},
        ensure_ascii=False,
    )


def _paged(page: Page[Any], render: Callable[[Any], Any]) -> str:
    if not page.items:
        return "No results found."
    results = json.dumps([render(item) for item in page.items], ensure_ascii=False)
    last = max(page.pages - 1, 0)
    return f"Showing {len(page.items)} of {page.total} results (page {page.page}/{last}): {results}"


def _render_message(message: Message) -> str:
    text = message.user_text() or message.content or ""
    for call in message.tool_calls:
        if call.name == "send_message":
            text = _sent_text(call.arguments) or text
    return f"timestamp: {format_time(message.created_at)}, {message.role} - {text}"


def _sent_text(arguments: str) -> str | None:
    try:
        return str(json.loads(arguments)["message"])
    except (ValueError, KeyError, TypeError):
        return None


class FunctionRunner:
    """Runs one validated call against the agent's state and memory tiers."""

    def __init__(self, state: AgentState, recall: Recall, limits: Limits) -> None:
        self.state = state
        self.recall = recall
        self.limits = limits

    async def run(self, name: str, raw_arguments: str) -> Outcome:
        model = ARG_MODELS.get(name)
        if model is None:
            known = ", ".join(ARG_MODELS)
            return Outcome(False, f"No function named {name!r}. Available functions: {known}.")
        limit = self.limits.function_argument_chars
        if len(raw_arguments) > limit:
            return Outcome(
                False,
                f"The arguments of {name} are {size(len(raw_arguments))}, over the limit of {limit:,} "
                "characters. Split the text into smaller calls.",
            )
        try:
            loaded = json.loads(raw_arguments or "{}")
            if not isinstance(loaded, dict):
                raise ValueError("arguments must be a JSON object")
            args = model.model_validate(clean_value(loaded))
        except (ValueError, RecursionError, ValidationError) as exc:
            return Outcome(False, f"Invalid arguments for {name}: {_brief(exc)}")
        handler: Callable[[Any], Awaitable[Outcome]] = getattr(self, f"_{name}")
        try:
            outcome = await handler(args)
        except Exception as exc:  # a failing function must become a failure heartbeat, not a crash
            outcome = Outcome(False, f"{name} raised {type(exc).__name__}: {exc}")
        outcome.request_heartbeat = bool(getattr(args, "request_heartbeat", False))
        return outcome

    async def _send_message(self, args: SendMessage) -> Outcome:
        return Outcome(True, "None", sent=args.message)

    async def _pause_heartbeats(self, args: PauseHeartbeats) -> Outcome:
        until = now() + timedelta(minutes=args.minutes)
        self.state.heartbeats_paused_until = until
        return Outcome(True, f"Pausing timed heartbeats for {args.minutes} min")

    def _editable(self, label: str) -> tuple[Any, str | None]:
        block = self.state.block(label)
        if block is None:
            labels = ", ".join(b.label for b in self.state.blocks)
            return None, f"No core memory block labelled {label!r}. Blocks: {labels}."
        if block.read_only:
            return None, f"Core memory block {label!r} is read-only."
        return block, None

    def _set_block(self, block: Any, new: str) -> Outcome:
        if len(new) > block.limit:
            return Outcome(
                False,
                f"Edit failed: block {block.label!r} would have {len(new)} characters, over its limit of "
                f"{block.limit}. Summarise the block with core_memory_replace, or move details to archival "
                "memory with archival_memory_insert, then try again.",
            )
        old, block.value = block.value, new
        self.state.memory_edited_at = now()
        return Outcome(True, "None", memory_edits=[(block.label, old, new)])

    async def _core_memory_append(self, args: CoreMemoryAppend) -> Outcome:
        block, error = self._editable(args.label)
        if error:
            return Outcome(False, error)
        joined = f"{block.value}\n{args.content}" if block.value else args.content
        return self._set_block(block, joined)

    async def _core_memory_replace(self, args: CoreMemoryReplace) -> Outcome:
        block, error = self._editable(args.label)
        if error:
            return Outcome(False, error)
        if not args.old_content or args.old_content not in block.value:
            return Outcome(
                False,
                f"Old content {args.old_content!r} not found in block {args.label!r} (exact match required).",
            )
        return self._set_block(block, block.value.replace(args.old_content, args.new_content))

    async def _conversation_search(self, args: ConversationSearch) -> Outcome:
        page = await self.recall.search_messages(args.query, args.page)
        return Outcome(True, _paged(page, _render_message))

    async def _conversation_search_date(self, args: ConversationSearchDate) -> Outcome:
        if args.end_date < args.start_date:
            return Outcome(False, "end_date is before start_date.")
        page = await self.recall.search_messages_by_date(args.start_date, args.end_date, args.page)
        return Outcome(True, _paged(page, _render_message))

    async def _archival_memory_insert(self, args: ArchivalMemoryInsert) -> Outcome:
        if not args.content.strip():
            return Outcome(False, "Nothing to insert: content is empty.")
        await self.recall.archival_insert(args.content)
        return Outcome(True, "None", archival_changed=True)

    async def _archival_memory_search(self, args: ArchivalMemorySearch) -> Outcome:
        page = await self.recall.archival_search(args.query, args.page)
        return Outcome(
            True, _paged(page, lambda p: {"timestamp": format_time(p.created_at), "content": p.text})
        )


def _brief(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
    return str(exc)
