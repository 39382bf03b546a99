"""Line mode: the same engine on stdin/stdout, for pipes, scripts and terminals without a TUI."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TextIO

from . import commands, runtime
from .config import ConfigError, Settings, setup_logging
from .engine.agent import Agent
from .model import events as ev
from .model.errors import StoreError

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
            if text.startswith("/"):
                try:
                    result = await commands.run(agent, text, attach)
                except commands.CommandError as exc:
                    printer.line(f"✗ {exc}")
                    continue
                if result.text:
                    printer.line(result.text)
                if result.exit:
                    break
            else:
                await agent.send(text)
    finally:
        unsubscribe()


async def main(settings: Settings, *, first: bool, debug: bool) -> int:
    """``memgpt-tui run --plain``: open (or create) the agent and chat on stdin/stdout."""
    setup_logging(debug)
    name = settings.agent or runtime.new_agent_name(settings)
    try:
        agent = await runtime.open_agent(settings, name, greet=not first)
    except (ConfigError, StoreError) as exc:
        print(f"memgpt-tui: {exc}", file=sys.stderr)
        return 2
    if not settings.agent:
        print(f"Created agent {name!r}. Resume it with: memgpt-tui run --plain --agent {name}", flush=True)
    try:
        await run(agent, runtime.attach)
    finally:
        await agent.close()
    return 0
