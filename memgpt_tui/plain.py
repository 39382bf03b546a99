"""Line mode: the same engine on stdin/stdout, for pipes, scripts and terminals without a TUI."""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from typing import Any, TextIO

from . import commands, runtime, wire
from .config import ConfigError, Settings, setup_logging
from .model import events as ev
from .model.errors import AgentError, StoreError
from .model.handle import AgentHandle
from .model.text import redact

log = logging.getLogger(__name__)

DIM, BOLD, RED, YELLOW, RESET = "\x1b[2m", "\x1b[1m", "\x1b[31m", "\x1b[33m", "\x1b[0m"


class Printer:
    """Renders engine events as lines; colour only on a terminal."""

    def __init__(self, out: TextIO, agent_name: str) -> None:
        self.out = out
        self.name = agent_name
        self.color = out.isatty()

    def _style(self, style: str, text: str) -> str:
        return f"{style}{text}{RESET}" if self.color else text

    def line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.CaughtUp):  # stored while the server was out of reach, as if live
            for message in event.messages:
                if message.kind == "user_message":
                    self.line(self._style(DIM, f"> {message.user_text()}"))
                elif message.role != "user":  # heartbeats and alerts are not shown live either
                    for item in wire.message_records(message):
                        self.show(item)
            return
        self.show(wire.record(event))

    def show(self, item: dict[str, Any]) -> None:
        match item["message_type"]:
            case "reasoning_message":
                self.line(self._style(DIM, f"💭 {item['reasoning']}"))
            case "tool_call_message" if wire.shown(item):
                call = item["tool_call"]
                self.line(self._style(DIM, f"⚡ {call['name']}({call['arguments']})"))
            case "tool_return_message" if item["status"] == "error":
                self.line(self._style(YELLOW, f"⚠ {item['name']} failed: {item['tool_return']}"))
            case "assistant_message":
                self.line(f"{self._style(BOLD, self.name)}: {item['content']}")
            case "x_summarized":
                self.line(
                    self._style(
                        DIM, f"⋯ {item['evicted']} older messages moved to recall memory and summarised"
                    )
                )
            case "x_notice" | "x_attempt_discarded" | "x_step_cancelled":
                self.line(self._style(YELLOW, f"! {item['text']}"))
            case "x_error":
                hint = item["hint"]
                self.line(self._style(RED, f"✗ {item['text']}" + (f"\n  {hint}" if hint else "")))


async def run(
    agent: AgentHandle,
    attach: commands.Attach | None = None,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
) -> None:
    """Read lines until /exit or end of input; every completed step is already checkpointed."""
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    if isinstance(stdin, io.TextIOWrapper):  # bytes that are not UTF-8 must not lose the line
        stdin.reconfigure(errors="replace")
    printer = Printer(out, agent.name)
    unsubscribe = agent.subscribe(printer)
    prompt = out.isatty() and stdin.isatty()
    try:
        if agent.needs_greeting:
            await agent.login()
        if (unanswered := agent.unanswered()) is not None:
            printer.line(f"! Your last message was not answered: {unanswered!r}. /retry sends it again.")
        while True:
            if prompt:
                out.write("> ")
                out.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            text = line.rstrip("\n")
            if not text.strip():
                continue
            if await _one(agent, text, attach, printer):
                break
    finally:
        unsubscribe()


async def _one(agent: AgentHandle, text: str, attach: commands.Attach | None, printer: Printer) -> bool:
    """Run one line: a command or a message. True when it asks to exit. Nothing raises past here:
    the message stays in recall for /retry whatever went wrong."""
    try:
        if not text.startswith("/"):
            await agent.send(text)
            return False
        result = await commands.run(agent, text, attach)
    except (commands.CommandError, AgentError, StoreError, ConfigError) as exc:
        printer.line(f"✗ {redact(str(exc))}")
        return False
    except Exception as exc:
        log.exception("line mode: %r failed", text[:80])
        kept = "" if text.startswith("/") else " Your message is kept: /retry sends it again."
        printer.line(
            redact(f"✗ Unexpected error: {type(exc).__name__}: {exc}")
            + f"\n  Details are in the log file.{kept}"
        )
        return False
    if result.text:
        printer.line(result.text)
    return result.exit


async def main(settings: Settings, *, first: bool, debug: bool) -> int:
    """``memgpt-tui run --plain``: open (or create) the agent and chat on stdin/stdout."""
    setup_logging(debug)
    name = settings.agent or runtime.new_agent_name(settings)
    try:
        agent = await runtime.open_agent(settings, name, greet=not first)
    except (ConfigError, StoreError, AgentError) as exc:
        print(f"memgpt-tui: {exc}", file=sys.stderr)
        return 2
    if not settings.agent:
        print(f"Created agent {name!r}. Resume it with: memgpt-tui run --plain --agent {name}", flush=True)
    try:
        await run(agent, runtime.attach)
    finally:
        await agent.close()
    return 0


async def attached(settings: Settings, server: str, token: str | None, *, debug: bool) -> int:
    """``memgpt-tui run --plain --server URL``: line mode on an agent the server runs."""
    from .remote import home

    setup_logging(debug)
    try:
        connection = await home.connect(server, token)
    except AgentError as exc:
        print(f"memgpt-tui: {exc}", file=sys.stderr)
        return 2
    try:
        if not settings.agent:
            names = ", ".join(a["name"] for a in await home.agents(connection)) or "none yet"
            raise AgentError(f"Name the agent with --agent (on {server}: {names}).")
        agent = await home.open_agent(connection, settings.agent)
    except AgentError as exc:
        await connection.aclose()
        print(f"memgpt-tui: {exc}", file=sys.stderr)
        return 2
    try:
        await run(agent, runtime.attach)
    finally:
        await agent.close()
    return 0
