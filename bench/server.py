"""``memgpt-tui serve`` under many users at once, against the same turns through the in-process Client.

The server runs as a subprocess on a free loopback port over a private home, its model and embeddings
on the OpenAI-compatible fake in a process of its own. Users are made with ``memgpt-tui users add``
(each prints its token last); every request goes through the real ``letta-client`` (``AsyncLetta``,
one client per user, with that user's bearer token). In order:

1. one agent, ``serial`` messages one after another in ``ROUNDS`` interleaved rounds, so a busy spell
   falls on every line alike: through letta-client, through a plain keep-alive HTTP/1.1 client (the
   standard library's, which costs next to nothing itself), then the same turns through the in-process
   ``Client`` in a fresh process on a home of its own. The plain client's median less the in-process
   one is the server's own overhead per message (HTTP, JSON, the accounts lookup, the wire mapping);
   letta-client's median less the in-process one adds what letta-client spends itself. The server's CPU
   per message less the in-process Client's is the same overhead as the machine's load leaves it less
   blurred;
2. every other agent is created and sent one message; the server's RSS, less its RSS with one agent
   open, over the agents added is the memory of an open idle agent (agents stay open: a long idle
   timeout);
3. ``streams`` SSE streams at once (``messages.stream``, one per agent), counting errors: a stream
   that fails, ends without its stop reason or misses the assistant's reply;
4. ``users`` x ``agents`` agents each sent ``messages`` messages, all users at once: latency,
   messages per second, the server's peak RSS (VmHWM); then the same workload through the in-process
   Client (a thread per agent).

The original MemGPT's server (pymemgpt 0.3.25) is driven on the same fake when ``MEMGPT_PEER_PYTHON``
names a Python that has it (see ``bench/peer_server.py``); otherwise the reason is printed.
"""

from __future__ import annotations

import asyncio
import http.client
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import warnings
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from .common import REPO, Figure, cpu_seconds, rss_mb, server_process, timing
from .fake_server import separate_fake_server
from .peer_server import PeerDriver, peer_python, peer_serving, starter_memory
from .report import standalone

IDLE_TIMEOUT = 3600  # seconds: no agent is closed while the benchmark runs
AGENT_NAMES = "agent"
PEER = "original MemGPT server"
ROUNDS = 5  # of the one-at-a-time phase
ANSWER = "@@ "  # starts the in-process Client's answers on its stdout


def serve_env(home: Path, base_url: str) -> dict[str, str]:
    """The environment of ``memgpt-tui`` on the fake: no setting of the caller's leaks in."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("MEMGPT_TUI_", "OPENAI_", "LETTA_"))}
    return kept | {
        "MEMGPT_TUI_HOME": str(home),
        "MEMGPT_TUI_BACKEND": "openai-compatible",
        "MEMGPT_TUI_BASE_URL": base_url,
        "MEMGPT_TUI_MODEL": "fake-model",
        "MEMGPT_TUI_NO_VERIFY": "1",
        "MEMGPT_TUI_EMBEDDING_BACKEND": "openai-compatible",
        "MEMGPT_TUI_EMBEDDING_BASE_URL": base_url,
        "MEMGPT_TUI_EMBEDDING_MODEL": "fake-embed",
        "MEMGPT_TUI_SERVE__IDLE_TIMEOUT": str(IDLE_TIMEOUT),
        "PYTHONPATH": str(REPO),
    }


def add_user(env: dict[str, str], name: str) -> str:
    """``memgpt-tui users add NAME``: the token it prints last."""
    out = subprocess.run(
        [sys.executable, "-m", "memgpt_tui", "users", "add", name],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1].strip()


def serving(env: dict[str, str]) -> AbstractContextManager[tuple[str, int]]:
    """``memgpt-tui serve`` on a free loopback port: its URL and process id, until SIGTERM."""
    return server_process(
        lambda port: [sys.executable, "-m", "memgpt_tui", "serve", "--port", str(port)],
        "/v1/health/",
        signal.SIGTERM,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def workload_text(agent: int, turn: int) -> str:
    return f"Message {turn} to agent {agent}: tell me something."


# ------------------------------------------------------------------ the phases, for any server


class Driver(Protocol):
    """One server's API: agents are made for a user (by index) and answered through it."""

    async def add_agent(self, user: int, name: str) -> Any: ...

    async def message(self, agent: Any, text: str) -> None:
        """Send ``text`` and wait for the reply; raises unless the assistant answered."""

    async def stream(self, agent: Any, text: str) -> None:
        """The same as an SSE stream read to its end; raises unless it ended with the reply."""


async def timed(call: Awaitable[None]) -> float:
    start = time.perf_counter()
    await call
    return time.perf_counter() - start


async def one_stream(driver: Driver, agent: Any) -> tuple[float, str | None]:
    """(seconds, error or None) of one SSE stream to its end."""
    start = time.perf_counter()
    try:
        await driver.stream(agent, "Stream me a reply.")
    except Exception as exc:
        return time.perf_counter() - start, f"{type(exc).__name__}: {exc}"
    return time.perf_counter() - start, None


# a batch of turns one after another: (seconds of each, CPU seconds of the process that answers them)
Batch = Callable[[int], tuple[list[float], float]]


async def one_at_a_time(
    driver: Driver, agent: Any, pid: int, count: int, rivals: dict[str, Batch], out: dict[str, Any]
) -> None:
    """Phase 1: ``count`` turns through the driver, and as many through each rival, in interleaved
    rounds; ``out[name]`` the seconds of each turn, ``out[name + "_cpu"]`` CPU seconds per turn."""
    rounds = ROUNDS if count >= ROUNDS else 1
    turn = itertools.count(1)
    out |= {"serial": [], "serial_cpu": 0.0, "client_cpu": 0.0} | {n: [] for n in rivals}
    out |= {f"{n}_cpu": 0.0 for n in rivals}
    for _ in range(rounds):
        cpu, own = cpu_seconds(pid), time.process_time()
        for _ in range(count // rounds):
            out["serial"].append(await timed(driver.message(agent, workload_text(0, next(turn)))))
        out["serial_cpu"] += cpu_seconds(pid) - cpu
        out["client_cpu"] += time.process_time() - own
        for name, batch in rivals.items():
            seconds, batch_cpu = batch(count // rounds)
            out[name] += seconds
            out[f"{name}_cpu"] += batch_cpu
    for name in ("serial", "client", *rivals):
        out[f"{name}_cpu"] /= len(out["serial"])


async def drive(
    driver: Driver, pid: int, sizes: dict[str, int], rivals: Callable[[Any], dict[str, Batch]] | None = None
) -> dict[str, Any]:
    """The phases of the module's docstring (1 to 4, the server's half) against one server;
    ``rivals(first agent)``: the batches interleaved with the driver's in phase 1."""
    users = sizes["users"]
    per_user = -(-max(sizes["streams"], users * sizes["agents"]) // users)
    out: dict[str, Any] = {"rss_start": rss_mb(pid)}

    first = await driver.add_agent(0, f"{AGENT_NAMES}-0")
    await driver.message(first, workload_text(0, 0))  # the first turn of a process loads code
    await one_at_a_time(driver, first, pid, sizes["serial"], rivals(first) if rivals else {}, out)
    out["rss_one"] = rss_mb(pid)

    agents = {(0, 0): first}
    for user in range(users):
        for n in range(per_user):
            if (user, n) != (0, 0):
                agents[user, n] = await driver.add_agent(user, f"{AGENT_NAMES}-{n}")
    for number, agent in enumerate(list(agents.values())[1:], start=1):
        await driver.message(agent, workload_text(number, 0))
    out["open_agents"] = len(agents)
    out["rss_open"] = rss_mb(pid)

    streamed = await asyncio.gather(
        *(one_stream(driver, a) for a in list(agents.values())[: sizes["streams"]])
    )
    out["stream_seconds"] = [s for s, _ in streamed]
    out["stream_errors"] = [e for _, e in streamed if e]

    chosen = [agents[u, n] for u in range(users) for n in range(sizes["agents"])]
    out["concurrent"], out["concurrent_wall"], out["concurrent_errors"] = await concurrently(
        driver, chosen, sizes["messages"]
    )
    out["rss_peak"] = rss_mb(pid, "VmHWM")
    return out


async def concurrently(
    driver: Driver, agents: list[Any], messages: int
) -> tuple[list[float], float, list[str]]:
    seconds: list[float] = []
    errors: list[str] = []

    async def one_agent(number: int, agent: Any) -> None:
        for turn in range(messages):
            try:
                seconds.append(await timed(driver.message(agent, workload_text(number, turn))))
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

    began = time.perf_counter()
    await asyncio.gather(*(one_agent(n, a) for n, a in enumerate(agents)))
    return seconds, time.perf_counter() - began, errors


class LettaDriver:
    """memgpt-tui serve through the real letta-client: an ``AsyncLetta`` per user, with its token."""

    def __init__(self, url: str, tokens: list[str]) -> None:
        from letta_client import AsyncLetta

        self.clients = [AsyncLetta(base_url=url, api_key=t, timeout=300, max_retries=0) for t in tokens]

    async def add_agent(self, user: int, name: str) -> tuple[Any, str]:
        letta = self.clients[user]
        return letta, (await letta.agents.create(name=name)).id

    async def message(self, agent: tuple[Any, str], text: str) -> None:
        letta, agent_id = agent
        reply = await letta.agents.messages.create(agent_id, messages=[{"role": "user", "content": text}])
        if not any(m.message_type == "assistant_message" for m in reply.messages):
            raise RuntimeError("a reply without the assistant's message")

    async def stream(self, agent: tuple[Any, str], text: str) -> None:
        letta, agent_id = agent
        with (
            warnings.catch_warnings()
        ):  # letta-client marks the stream path deprecated; Letta still serves it
            warnings.simplefilter("ignore", DeprecationWarning)
            stream = await letta.agents.messages.stream(
                agent_id, messages=[{"role": "user", "content": text}], stream_tokens=True
            )
        kinds = {chunk.message_type async for chunk in stream}
        if not {"assistant_message", "stop_reason"} <= kinds:
            raise RuntimeError(f"incomplete stream: {sorted(kinds)}")

    async def close(self) -> None:
        for letta in self.clients:
            await letta.close()


class PlainHTTP:
    """The message as one keep-alive HTTP/1.1 request through the standard library: the server's cost
    to a client that spends next to nothing itself."""

    def __init__(self, url: str, token: str, pid: int) -> None:
        where = urllib.parse.urlsplit(url)
        self.connection = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port, timeout=300)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.pid = pid

    def message(self, agent_id: str, text: str) -> None:
        body = json.dumps({"messages": [{"role": "user", "content": text}]})
        self.connection.request("POST", f"/v1/agents/{agent_id}/messages", body, self.headers)
        answer = self.connection.getresponse()
        reply = json.loads(answer.read())
        if answer.status != 200 or not any(
            m["message_type"] == "assistant_message" for m in reply["messages"]
        ):
            raise RuntimeError(f"a reply without the assistant's message: {answer.status}")

    def batch(self, agent_id: str, count: int) -> tuple[list[float], float]:
        cpu, seconds = cpu_seconds(self.pid), []
        for turn in range(count):
            start = time.perf_counter()
            self.message(agent_id, workload_text(0, turn))
            seconds.append(time.perf_counter() - start)
        return seconds, cpu_seconds(self.pid) - cpu


async def drive_server(
    url: str, pid: int, tokens: list[str], sizes: dict[str, int], inproc: InProcessClient
) -> dict[str, Any]:
    driver, plain = LettaDriver(url, tokens), PlainHTTP(url, tokens[0], pid)

    def rivals(first: tuple[Any, str]) -> dict[str, Batch]:
        return {"plain": lambda n: plain.batch(first[1], n), "inproc": inproc.batch}

    try:
        return await drive(driver, pid, sizes, rivals)
    finally:
        plain.connection.close()
        await driver.close()


# ------------------------------------------------------------------ the in-process Client


def client_child() -> None:
    """In a fresh process whose environment points at the fake: the same turns through the Client, a
    batch for each line read (``serial N`` or ``concurrent AGENTS MESSAGES``), each answered with a line
    of JSON."""
    from memgpt_tui.client import Client

    def answer(out: dict[str, Any]) -> None:
        print(ANSWER + json.dumps(out), flush=True)

    client = Client()
    client.create_agent(f"{AGENT_NAMES}-0")
    client.user_message(f"{AGENT_NAMES}-0", workload_text(0, 0))  # as the server's first turn
    answer({})
    turn = itertools.count(1)
    for line in sys.stdin:
        command, *numbers = line.split()
        if command == "serial":
            seconds, cpu = [], time.process_time()
            for _ in range(int(numbers[0])):
                start = time.perf_counter()
                client.user_message(f"{AGENT_NAMES}-0", workload_text(0, next(turn)))
                seconds.append(time.perf_counter() - start)
            answer({"seconds": seconds, "cpu": time.process_time() - cpu})
        else:
            answer(client_concurrently(client, *(int(n) for n in numbers)))
    client.close()


def client_concurrently(client: Any, agents: int, messages: int) -> dict[str, Any]:
    names = [f"{AGENT_NAMES}-{n}" for n in range(1, agents + 1)]
    for name in names:
        client.create_agent(name)
        client.user_message(name, workload_text(0, 0))
    seconds: list[float] = []

    def one_agent(number: int, name: str) -> None:
        for turn in range(messages):
            start = time.perf_counter()
            client.user_message(name, workload_text(number, turn))
            seconds.append(time.perf_counter() - start)

    threads = [threading.Thread(target=one_agent, args=(n, name)) for n, name in enumerate(names)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"concurrent": seconds, "concurrent_wall": time.perf_counter() - began}


class InProcessClient:
    """``client_child`` in a process of its own on a home of its own, driven a batch at a time, so its
    turns interleave with the server's."""

    def __init__(self, base_url: str, home: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.server", "--child"],
            cwd=REPO,
            env=serve_env(home, base_url),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.ask()  # ready: its agent made and its first turn taken

    def ask(self, *words: object) -> dict[str, Any]:
        assert self.process.stdin and self.process.stdout
        if words:
            self.process.stdin.write(" ".join(map(str, words)) + "\n")
            self.process.stdin.flush()
        for line in self.process.stdout:
            if line.startswith(ANSWER):
                return dict(json.loads(line[len(ANSWER) :]))
        raise RuntimeError(f"the in-process Client's process ended ({self.process.wait()})")

    def batch(self, count: int) -> tuple[list[float], float]:
        out = self.ask("serial", count)
        return out["seconds"], out["cpu"]

    def __enter__(self) -> InProcessClient:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=60)


# ------------------------------------------------------------------ figures


def measure(users: int, agents: int, messages: int, streams: int, serial: int) -> list[Figure]:
    sizes = {"users": users, "agents": agents, "messages": messages, "streams": streams, "serial": serial}
    with separate_fake_server() as base_url:
        with (
            tempfile.TemporaryDirectory(prefix="memgpt-bench-serve-") as tmp,
            tempfile.TemporaryDirectory(prefix="memgpt-bench-client-") as client_home,
            InProcessClient(base_url, Path(client_home)) as inproc,
        ):
            home = Path(tmp)
            home.chmod(0o700)
            env = serve_env(home, base_url)
            tokens = [add_user(env, f"user{n}") for n in range(users)]
            with serving(env) as (url, pid):
                served = asyncio.run(drive_server(url, pid, tokens, sizes, inproc))
            inproc_out = inproc.ask("concurrent", users * agents, messages)
        peer = drive_peer(base_url, sizes)
    own = server_figures("server", served, sizes, targets=True, via=" through letta-client")
    return (
        own[:1]
        + client_figures(served, inproc_out, sizes)
        + own[1:]
        + (server_figures(PEER, peer, sizes, via=" through its REST API") if peer else [])
    )


def drive_peer(base_url: str, sizes: dict[str, int]) -> dict[str, Any] | None:
    """The same phases against the original MemGPT's server; None, said why, when it cannot be driven."""
    python, why = peer_python()
    if python is None:
        print(f"[server] {PEER} skipped: {why}", file=sys.stderr)
        return None
    log = Path(tempfile.gettempdir()) / "memgpt-bench-peer-server.log"
    memory = starter_memory(python)

    async def phases(url: str, pid: int) -> dict[str, Any]:
        driver = PeerDriver(url, memory)
        try:
            return await drive(driver, pid, sizes)
        finally:
            await driver.close()

    try:
        with peer_serving(python, base_url, log) as (url, pid):
            return asyncio.run(phases(url, pid))
    except Exception as exc:
        print(
            f"[server] {PEER} could not be driven: {type(exc).__name__}: {exc} (its log: {log})",
            file=sys.stderr,
        )
        return None


def server_figures(
    label: str, out: dict[str, Any], sizes: dict[str, int], targets: bool = False, via: str = ""
) -> list[Figure]:
    load = f"load {os.getloadavg()[0]:.2f}"
    k, a, m = sizes["users"], sizes["agents"], sizes["messages"]
    added = out["open_agents"] - 1
    per_agent = (out["rss_open"] - out["rss_one"]) / added if added else float("nan")
    done = len(out["concurrent"])
    stream_errors = out["stream_errors"]
    return [
        timing(f"{label} message, one at a time ({len(out['serial'])})", out["serial"],
               note=f"one agent, one message after another{via}; {load}"),
        timing(f"{label} message, {k}x{a} agents at once", out["concurrent"],
               note=f"{k} users x {a} agents x {m} messages, all at once; "
                    f"{len(out['concurrent_errors'])} errors{first(out['concurrent_errors'])}; {load}"),
        Figure(f"{label} messages per second, all users at once", done / out["concurrent_wall"], "msg/s",
               better="higher", note=f"{done} messages in {out['concurrent_wall']:.1f} s"),
        Figure(f"{label} SSE streams at once, errors ({sizes['streams']})", len(stream_errors), "errors",
               target=0 if targets else None, note=f"one stream per agent{first(stream_errors)}"),
        timing(f"{label} SSE stream to its end, {sizes['streams']} at once", out["stream_seconds"]),
        Figure(f"{label} peak RSS", out["rss_peak"], "MB",
               note=f"VmHWM of the server process; {out['open_agents']} agents open at the end"),
        Figure(f"{label} RSS per open idle agent", per_agent, "MB", target=15.0 if targets else None,
               note=f"(RSS with {out['open_agents']} open - RSS with 1 open) / {added}; "
                    f"{out['rss_start']:.0f} MB before any agent, {out['rss_one']:.0f} MB with one"),
    ]  # fmt: skip


def first(errors: list[str]) -> str:
    return f" (first: {errors[0][:160]})" if errors else ""


def client_figures(served: dict[str, Any], inproc: dict[str, Any], sizes: dict[str, int]) -> list[Figure]:
    """The same turns through the in-process Client, and the server's overhead over them."""
    k, a, n = sizes["users"], sizes["agents"], len(served["serial"])
    inproc_p50 = statistics.median(served["inproc"])
    concurrent_gap = statistics.median(served["concurrent"]) - statistics.median(inproc["concurrent"])
    return [
        timing(f"server message, plain HTTP client, one at a time ({n})", served["plain"],
               note="http.client, one keep-alive connection, the same JSON body"),
        timing(f"in-process Client turn, one at a time ({n})", served["inproc"],
               note=f"Client.user_message, the same turns on the same fake, a fresh process; {ROUNDS} "
                    "rounds interleaved with the two lines above"),
        Figure("server overhead over the in-process turn",
               (statistics.median(served["plain"]) - inproc_p50) * 1000, "ms", target=3.0,
               note="the plain HTTP client's median less the in-process Client's"),
        Figure("server overhead through letta-client", (statistics.median(served["serial"]) - inproc_p50) * 1000,
               "ms", note="letta-client's median less the in-process Client's: the line above plus what "
                          "letta-client spends itself"),
        Figure("server CPU per message, over the in-process turn's",
               (served["plain_cpu"] - served["inproc_cpu"]) * 1000, "ms",
               note=f"server process {served['plain_cpu'] * 1000:.1f} ms, Client process "
                    f"{served['inproc_cpu'] * 1000:.1f} ms per turn, all threads; steadier than wall time"),
        Figure("letta-client's own CPU per message", served["client_cpu"] * 1000, "ms",
               note="the bench process building the request and reading the typed reply: part of the "
                    "letta-client line's wall time, spent outside the server"),
        timing(f"in-process Client turn, {k}x{a} agents at once", inproc["concurrent"],
               note="a thread per agent through one Client"),
        Figure("in-process Client messages per second, all agents at once",
               len(inproc["concurrent"]) / inproc["concurrent_wall"], "msg/s", better="higher"),
        Figure("server overhead, all at once (p50 difference)", concurrent_gap * 1000, "ms",
               note="queueing on a shared machine included; reported only"),
    ]  # fmt: skip


def run(quick: bool) -> list[Figure]:
    if quick:
        return measure(users=4, agents=2, messages=5, streams=20, serial=20)
    return measure(users=20, agents=2, messages=25, streams=100, serial=100)


def main(argv: list[str] | None = None) -> list[Figure]:
    return standalone(__doc__, argv, measure, users=20, agents=2, messages=25, streams=100, serial=100)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        client_child()
    else:
        main()
