"""Slash commands: one registry, shared by line mode, the TUI input, its completion and its palette."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from .engine.agent import Agent
from .model.clock import format_time, now
from .model.errors import AgentError, StoreError
from .model.handle import AgentHandle
from .model.messages import Message
from .model.records import CheckpointInfo


@dataclass(frozen=True)
class Command:
    name: str
    args: str
    help: str
    read_only: bool = False  # only reads: it may run while a step is in flight
    runs_bare: bool = False  # its optional argument can be left out: the palette runs it at once


COMMANDS: tuple[Command, ...] = (
    Command("/help", "", "List commands and keys", read_only=True),
    Command("/exit", "", "Save and quit", read_only=True),
    Command("/save", "[name]", "Save a named checkpoint"),
    Command("/load", "[id]", "Browse checkpoints, or restore the one with this id", runs_bare=True),
    Command(
        "/dump",
        "[n]",
        "Show the last n messages in the context window (all if omitted)",
        read_only=True,
        runs_bare=True,
    ),
    Command("/memory", "", "Show core memory and the size of recall and archival memory", read_only=True),
    Command("/pop", "[n=3]", "Remove the last n messages from view and from recall"),
    Command("/retry", "", "Drop the last reply and ask again"),
    Command("/rethink", "<text>", "Replace the inner monologue of the last reply"),
    Command("/rewrite", "<text>", "Replace the text of the last reply to you"),
    Command("/heartbeat", "", "Wake the agent with a heartbeat"),
    Command("/memorywarning", "", "Send the agent a memory-pressure warning"),
    Command("/summarize", "", "Fold the older half of the context window into the summary"),
    Command("/attach", "<source>", "Copy a loaded data source into archival memory"),
    Command("/tokens", "", "Show the context window's token breakdown", read_only=True),
    Command(
        "/export",
        "[path]",
        "Write the conversation as Markdown (a .af path: a Letta Agent File)",
        runs_bare=True,
    ),
)
BY_NAME = {c.name: c for c in COMMANDS}


@dataclass
class Result:
    text: str = ""
    exit: bool = False
    opens: Literal["help", "checkpoints"] | None = (
        None  # a screen the TUI shows instead; line mode prints text
    )


class CommandError(Exception):
    pass


def complete(prefix: str) -> list[Command]:
    return [c for c in COMMANDS if c.name.startswith(prefix)]


Attach = Callable[[AgentHandle, str], Awaitable[int]]


@runtime_checkable
class Exports(Protocol):
    """An agent that writes its own exports (one on a server: the server makes the file)."""

    async def export_to(self, file: Path, fmt: str | None) -> Path: ...


async def run(agent: AgentHandle, line: str, attach: Attach | None = None) -> Result:
    """Run one slash command. Raises CommandError with a message meant for the user."""
    name, _, arg = line.strip().partition(" ")
    arg = arg.strip()
    command = BY_NAME.get(name)
    if command is None:
        near = ", ".join(c.name for c in complete(name[:3])) or "/help"
        raise CommandError(f"Unknown command {name}. Did you mean: {near}")
    if command.args.startswith("<") and not arg:
        raise CommandError(f"Usage: {command.name} {command.args}")
    if name in agent.unavailable:
        raise CommandError(f"{name}: {agent.unavailable[name]}")
    try:
        return await _dispatch(agent, name, arg, attach)
    except AgentError as exc:
        raise CommandError(str(exc)) from exc


async def _dispatch(agent: AgentHandle, name: str, arg: str, attach: Attach | None) -> Result:
    match name:
        case "/help":
            return Result(help_text(), opens="help")
        case "/exit":
            return Result("Saved. Goodbye.", exit=True)
        case "/save":
            info = await agent.save(arg or None)
            return Result(f"Saved checkpoint {info.label!r} ({info.id}).")
        case "/load":
            if not arg:
                return Result(checkpoint_table(await agent.checkpoints()), opens="checkpoints")
            info = await agent.restore(arg)
            before = (await agent.checkpoints())[-2]  # the state just before the restore
            return Result(f"{info.summary[:1].upper()}{info.summary[1:]}. To undo: /load {before.id}")
        case "/dump":
            return Result(dump_text(agent.dump(_int(arg, None))))
        case "/memory":
            return Result(memory_text(agent))
        case "/pop":
            removed = await agent.pop(_int(arg, 3) or 3)
            return Result(f"Removed {removed} messages.")
        case "/retry":
            await agent.retry()
        case "/rethink":
            await agent.rethink(arg)
            return Result("Inner monologue replaced.")
        case "/rewrite":
            await agent.rewrite(arg)
            return Result("Reply rewritten.")
        case "/heartbeat":
            await agent.heartbeat()
        case "/memorywarning":
            await agent.memory_warning()
        case "/summarize":
            n = await agent.summarize_now()
            return Result(
                f"Summarised {n} messages into recall memory." if n else "Nothing to summarise yet."
            )
        case "/attach":
            if attach is None:
                raise CommandError("Data sources are not available here.")
            added = await attach(agent, arg)
            return Result(f"Attached {arg!r}: {added} passages.")
        case "/tokens":
            return Result(tokens_text(agent))
        case "/export":
            path = await export(agent, arg)
            return Result(f"Exported the conversation to {path}")
    return Result()


async def export(agent: AgentHandle, path: str) -> Path:
    """/export: the open agent as it is now; Markdown unless the path names another format."""
    file = Path(path or f"{agent.name}-{now():%Y%m%d-%H%M%S}.md").expanduser()
    fmt = None if file.suffix.lower() in (".md", ".af", ".agent", ".zip") else "md"
    try:
        return await write_export(agent, file, fmt)
    except StoreError as exc:
        raise CommandError(str(exc)) from exc


async def write_export(agent: AgentHandle, file: Path, fmt: str | None) -> Path:
    """The agent, open, written to ``file`` (``fmt`` None: as its suffix says); raises StoreError."""
    if isinstance(agent, Exports):
        return await agent.export_to(file, fmt)
    from .transfer.formats import export_open  # pyarrow and friends: not at the TUI's start

    assert isinstance(agent, Agent)
    return await asyncio.to_thread(export_open, agent.store, agent.state, file, fmt)


def _int(text: str, default: int | None) -> int | None:
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise CommandError(f"Expected a number, got {text!r}.") from None


def help_text() -> str:
    width = max(len(f"{c.name} {c.args}") for c in COMMANDS)
    return "\n".join(f"{f'{c.name} {c.args}'.strip():<{width}}  {c.help}" for c in COMMANDS)


def memory_text(agent: AgentHandle) -> str:
    view = agent.snapshot()
    lines = []
    for block in view.blocks:
        lines.append(
            f"[{block.label}] {len(block.value)}/{block.limit} chars{' (read-only)' if block.read_only else ''}"
        )
        lines.append(block.value)
        lines.append("")
    lines.append(
        f"Recall memory: {view.recall_messages} messages. Archival memory: {view.archival_memories} passages."
    )
    if view.summary:
        lines.append(f"Summary of evicted messages: {view.summary}")
    return "\n".join(lines)


def dump_text(messages: list[Message]) -> str:
    out = []
    for m in messages:
        text = m.user_text() or m.content or ""
        calls = "".join(f"\n    -> {c.name}({c.arguments})" for c in m.tool_calls)
        out.append(f"[{format_time(m.created_at)}] {m.role}/{m.kind}: {text}{calls}")
    return "\n".join(out) or "(empty)"


def tokens_text(agent: AgentHandle) -> str:
    ctx = agent.last_context
    if ctx is None:
        return "No token counts yet."
    approx = "" if ctx.exact else "≈"
    rows = [f"{k:<12} {approx}{v:>7}" for k, v in ctx.breakdown.as_dict().items()]
    pct = 100 * ctx.used / ctx.limit if ctx.limit else 0
    rows.append(f"{'total':<12} {approx}{ctx.used:>7} / {ctx.limit} ({pct:.0f}%)")
    return "\n".join(rows)


def checkpoint_table(infos: list[CheckpointInfo]) -> str:
    if not infos:
        return "No checkpoints."
    return "\n".join(
        f"{i.id}  step {i.step:>4}  {format_time(i.time)}  {i.label or '':<24} {i.summary}" for i in infos
    )
