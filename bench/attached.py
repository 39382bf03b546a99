"""The TUI attached to a server against the local TUI, on the same agent and machine; catching up.

Key echo (idle, and while a long reply streams) and first token (Enter to the reply's first word on
screen) are measured in the real ``memgpt-tui`` in a pseudo-terminal, first on the agent here, then on
the same agent served by ``memgpt-tui serve`` on loopback (``--server URL``); first token also without a
screen (``send`` to the first ``Token`` event, the local agent against the attached one). Catch-up: a remote agent
is attached, the server is killed (SIGKILL) and started again, and about 1,000 messages are written by
another client before the agent can be back; the time is from then (its loop free again, its
reconnection delay set to 50 ms) to the missed messages handed to the UI.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from memgpt_tui import runtime
from memgpt_tui.config import Settings
from memgpt_tui.model import events as ev
from memgpt_tui.model.handle import AgentHandle
from memgpt_tui.remote import agent as remote_agent
from memgpt_tui.remote import home as remote_home
from tests.fakes.openai_server import FakeOpenAIServer, Reply, unused_port

from .common import Figure, private_home, timing
from .fixtures import build_agent, settings_for
from .keyecho import echo, long_reply
from .report import standalone
from .startup import INPUT_READY, console_script
from .terminal import Terminal

SETTLE = 3.0  # seconds for the agent to finish opening behind the first screen
EVENT_ROUNDS = 21  # turns timed without a screen (the first one not counted)
TURN_OVER = 1.5  # seconds after a short reply's first word: the turn is over


def first_tokens(term: Terminal, server: FakeOpenAIServer, rounds: int) -> list[float]:
    """Seconds from Enter to the reply's first word on screen, one turn per round."""
    seconds = []
    for n in range(rounds):
        word = f"Quokka{n}x"
        server.script(Reply.tool_call("send_message", {"message": f"{word} says hello."}, content="Hi."))
        mark = term.mark()
        sent = term.write(f"Round {n}\r")
        seconds.append(term.wait_for(word, since=mark) - sent)
        time.sleep(TURN_OVER)
    return seconds


Measured = tuple[list[float], list[float], list[float]]


def in_terminal(
    command: list[str], env: dict[str, str], server: FakeOpenAIServer, tokens: int, rate: float
) -> Measured:
    """Key echo idle, first token, key echo while a long reply streams."""
    with Terminal(command, env) as term:
        term.wait_for(INPUT_READY, timeout=60)
        time.sleep(SETTLE)
        idle = echo(term, 30)
        first = first_tokens(term, server, 10)
        reply, shown, events = long_reply(tokens)
        reply.chunk_delay = 1 / rate
        server.script(reply)
        mark = term.mark()
        term.write("Tell me a long story.\r")
        started = term.wait_for(shown, since=mark)
        streaming = echo(term, 10_000, until=started + events / rate - 0.5)
        time.sleep(TURN_OVER + 0.5)
    return idle, first, streaming


async def token_events(agent: AgentHandle, server: FakeOpenAIServer, rounds: int) -> list[float]:
    """Seconds from ``send`` to the first ``Token`` event, without a screen: what the attached agent
    itself adds."""
    heard_at: list[float] = []  # the turn's first token, once heard

    def heard(event: ev.Event) -> None:
        if isinstance(event, ev.Token) and not heard_at:
            heard_at.append(time.monotonic())

    seconds = []
    unsubscribe = agent.subscribe(heard)
    try:
        for n in range(rounds):
            server.script(Reply.tool_call("send_message", {"message": f"Hello {n} there."}, content="Hi."))
            heard_at.clear()
            sent = time.monotonic()
            await agent.send(f"Round {n}")
            seconds.append(heard_at[0] - sent)
    finally:
        unsubscribe()
    return seconds[1:]  # the first turn warms up


async def local_events(server: FakeOpenAIServer, rounds: int) -> list[float]:
    agent = await runtime.open_agent(Settings.load(), "bench", create=False)
    try:
        return await token_events(agent, server, rounds)
    finally:
        await agent.close()


async def attached_events(url: str, server: FakeOpenAIServer, rounds: int) -> list[float]:
    agent = await remote_home.open_agent(await remote_home.connect(url, None), "bench")
    try:
        return await token_events(agent, server, rounds)
    finally:
        await agent.close()


def serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "memgpt_tui", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health/", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("memgpt-tui serve did not answer")


async def catch_up(env: dict[str, str], missed: int) -> tuple[float, int]:
    """Seconds from the server answering again to the missed messages handed over, and how many."""
    port = unused_port()
    url = f"http://127.0.0.1:{port}"
    process = serve(env, port)
    remote_agent.RETRY_DELAYS = (0.05,)
    agent = await remote_home.open_agent(await remote_home.connect(url, None), "bench")
    arrived: list[tuple[float, ev.CaughtUp]] = []
    agent.subscribe(lambda e: arrived.append((time.monotonic(), e)) if isinstance(e, ev.CaughtUp) else None)
    try:
        process.send_signal(signal.SIGKILL)
        process.wait()
        await asyncio.sleep(0.5)  # the agent has noticed
        # Started again, and another client writes while this loop is held: the agent cannot be back.
        process = serve(env, port)
        with httpx.Client(base_url=url, timeout=60) as http:
            for n in range(-(-missed // 3)):  # a turn stores three messages
                http.post(f"/v1/x-memgpt/agents/{agent.id}/messages", json={"text": f"Meanwhile {n}"})
        back = time.monotonic()
        while not arrived:
            await asyncio.sleep(0.005)
        at, caught = arrived[0]
        return at - back, len(caught.messages)
    finally:
        await agent.close()
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def measure(tokens: int, rate: float, missed: int) -> list[Figure]:
    with private_home("attached") as home, FakeOpenAIServer() as server:
        build_agent(settings_for(server), "bench", messages=300, passages=0)
        # The agent's own settings name the fake; the rest as a user's (its embeddings among them).
        env = {**os.environ, "MEMGPT_TUI_HOME": str(home), "MEMGPT_TUI_SERVE__IDLE_TIMEOUT": "3600"}
        local = in_terminal([console_script(), "--agent", "bench"], env, server, tokens, rate)
        local_tokens = asyncio.run(local_events(server, EVENT_ROUNDS))
        client_env = {**env, "MEMGPT_TUI_HOME": str(Path(home) / "client")}
        port = unused_port()
        process = serve(env, port)
        try:
            command = [console_script(), "--server", f"http://127.0.0.1:{port}", "--agent", "bench"]
            attached = in_terminal(command, client_env, server, tokens, rate)
            attached_tokens = asyncio.run(attached_events(f"http://127.0.0.1:{port}", server, EVENT_ROUNDS))
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
        server.default = Reply.tool_call("send_message", {"message": "Noted."}, content="Ok.")
        seconds, count = asyncio.run(catch_up(env, missed))
    note = f"{tokens:,}-token reply at {rate:g} tokens/s"
    figures = []
    for where, (idle, first, streaming) in (("local", local), ("attached", attached)):
        figures += [
            timing(f"{where}: key echo, idle", idle, note=f"{len(idle)} keystrokes"),
            timing(f"{where}: key echo while streaming", streaming, 50.0, judge="p95", note=note),
            timing(f"{where}: first token", first, note=f"{len(first)} turns, Enter to the first word"),
        ]
    for where, events in (("local", local_tokens), ("attached", attached_tokens)):
        figures.append(timing(f"{where}: first token event", events, note=f"{len(events)} turns, no screen"))
    figures.append(
        timing("attached: catch-up after a reconnect", [seconds], note=f"{count:,} missed messages, one read")
    )
    return figures


def run(quick: bool) -> list[Figure]:
    return measure(500 if quick else 1000, 200, 1000)


def main(argv: list[str] | None = None) -> list[Figure]:
    return standalone(__doc__, argv, measure, tokens=1000, rate=200.0, missed=1000)


if __name__ == "__main__":
    main()
