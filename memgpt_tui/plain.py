"""Line mode: the same engine on stdin/stdout, for pipes, scripts and terminals without a TUI."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from typing import TextIO

from . import commands, runtime
from .config import ConfigError, Settings, setup_logging
from .engine.agent import Agent
from .model import events as ev
from .model.errors import AgentError, StoreError
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
        match event:
            case ev.InnerThought(text=text):
                self.line(self._style(DIM, f"💭 {text}"))
            case ev.FunctionCalled(name=name, arguments=args) if name != "send_message":
                self.line(self._style(DIM, f"⚡ {name}({json.dumps(args, ensure_ascii=False)})"))
            case ev.FunctionReturned(name=name, ok=False, message=message):
                self.line(self._style(YELLOW, f"⚠ {name} failed: {message}"))
            case ev.AssistantMessage(text=text):
                self.line(f"{self._style(BOLD, self.name)}: {text}")
            case ev.Summarized(evicted=n):
                self.line(self._style(DIM, f"⋯ {n} older messages moved to recall memory and summarised"))
            case ev.Notice(text=text) | ev.AttemptDiscarded(text=text) | ev.StepCancelled(text=text):
                self.line(self._style(YELLOW, f"! {text}"))
            case ev.Error(text=text, hint=hint):
                self.line(self._style(RED, f"✗ {text}" + (f"\n  {hint}" if hint else "")))


async def run(
    agent: Agent,
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


async def _one(agent: Agent, text: str, attach: commands.Attach | None, printer: Printer) -> bool:
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
