"""``memgpt-tui serve`` under many users at once, against the same turns through the in-process Client.

The server runs as a subprocess on a free loopback port over a private home, its model and embeddings
on the OpenAI-compatible fake in a process of its own. Users are made with ``memgpt-tui users add``
(each prints its token last); every request goes through the real ``letta-client`` (``AsyncLetta``,
one client per user, with that user's bearer token). In order:

1. one agent, ``serial`` messages one after another: the server's turn, then the same turns through
   the in-process ``Client`` in a fresh process on a home of its own; the difference of the medians is
   the server's own overhead per message (HTTP, JSON, the accounts lookup, the wire mapping);
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
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from .common import REPO, Figure, timing
from .fake_server import separate_fake_server
from .report import standalone

IDLE_TIMEOUT = 3600  # seconds: no agent is closed while the benchmark runs
AGENT_NAMES = "agent"


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


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


@contextmanager
def serving(env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """``memgpt-tui serve`` on a free loopback port: its URL and process id, until SIGTERM."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "memgpt_tui", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        yield url, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_healthy(url: str, process: subprocess.Popen[Any], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before answering")
        try:
            if httpx.get(f"{url}/v1/health/", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer within {seconds:.0f} s")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {pid}")


def workload_text(agent: int, turn: int) -> str:
    return f"Message {turn} to agent {agent}: tell me something."


# ------------------------------------------------------------------ through the server


async def timed_message(letta: Any, agent_id: str, text: str) -> float:
    start = time.perf_counter()
    reply = await letta.agents.messages.create(agent_id, messages=[{"role": "user", "content": text}])
    seconds = time.perf_counter() - start
    if not any(m.message_type == "assistant_message" for m in reply.messages):
        raise RuntimeError("a reply without the assistant's message")
    return seconds


async def one_stream(letta: Any, agent_id: str) -> tuple[float, str | None]:
    """(seconds, error or None) of one SSE stream to its end."""
    start = time.perf_counter()
    try:
        kinds = []
        stream = await letta.agents.messages.stream(
            agent_id, messages=[{"role": "user", "content": "Stream me a reply."}], stream_tokens=True
        )
        async for chunk in stream:
            kinds.append(chunk.message_type)
    except Exception as exc:
        return time.perf_counter() - start, f"{type(exc).__name__}: {exc}"
    if "assistant_message" not in kinds or "stop_reason" not in kinds:
        return time.perf_counter() - start, f"incomplete stream: {sorted(set(kinds))}"
    return time.perf_counter() - start, None


async def drive_server(url: str, pid: int, tokens: list[str], sizes: dict[str, int]) -> dict[str, Any]:
    from letta_client import AsyncLetta

    clients = [AsyncLetta(base_url=url, api_key=token, timeout=300, max_retries=0) for token in tokens]
    per_user = -(-max(sizes["streams"], len(tokens) * sizes["agents"]) // len(tokens))
    out: dict[str, Any] = {"rss_start": rss_mb(pid)}

    first = await clients[0].agents.create(name=f"{AGENT_NAMES}-0")
    agents: list[tuple[Any, str]] = [(clients[0], first.id)]
    out["serial"] = [
        await timed_message(clients[0], first.id, workload_text(0, turn)) for turn in range(sizes["serial"])
    ]
    out["rss_one"] = rss_mb(pid)

    for user, letta in enumerate(clients):
        for n in range(per_user):
            if (user, n) != (0, 0):
                agents.append((letta, (await letta.agents.create(name=f"{AGENT_NAMES}-{n}")).id))
    for number, (letta, agent_id) in enumerate(agents[1:], start=1):
        await timed_message(letta, agent_id, workload_text(number, 0))
    out["open_agents"] = len(agents)
    out["rss_open"] = rss_mb(pid)

    streamed = await asyncio.gather(*(one_stream(c, a) for c, a in agents[: sizes["streams"]]))
    out["stream_seconds"] = [s for s, _ in streamed]
    out["stream_errors"] = [e for _, e in streamed if e]

    chosen = [(c, a) for c in clients for a in [x for k, x in agents if k is c][: sizes["agents"]]]
    out["concurrent"], out["concurrent_wall"], out["concurrent_errors"] = await concurrently(
        chosen, sizes["messages"]
    )
    out["rss_peak"] = rss_mb(pid, "VmHWM")
    for letta in clients:
        await letta.close()
    return out


async def concurrently(agents: list[tuple[Any, str]], messages: int) -> tuple[list[float], float, list[str]]:
    seconds: list[float] = []
    errors: list[str] = []

    async def one_user_agent(number: int, letta: Any, agent_id: str) -> None:
        for turn in range(messages):
            try:
                seconds.append(await timed_message(letta, agent_id, workload_text(number, turn)))
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

    began = time.perf_counter()
    await asyncio.gather(*(one_user_agent(n, c, a) for n, (c, a) in enumerate(agents)))
    return seconds, time.perf_counter() - began, errors


# ------------------------------------------------------------------ the in-process Client


def client_child(serial: int, agents: int, messages: int) -> dict[str, Any]:
    """In a fresh process whose environment points at the fake: the same turns through the Client."""
    from memgpt_tui.client import Client

    client = Client()
    client.create_agent(f"{AGENT_NAMES}-0")
    serial_seconds = []
    for turn in range(serial):
        start = time.perf_counter()
        client.user_message(f"{AGENT_NAMES}-0", workload_text(0, turn))
        serial_seconds.append(time.perf_counter() - start)
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
    wall = time.perf_counter() - began
    client.close()
    return {"serial": serial_seconds, "concurrent": seconds, "concurrent_wall": wall}


def drive_client(base_url: str, sizes: dict[str, int]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="memgpt-bench-client-") as home:
        args = [str(sizes["serial"]), str(sizes["users"] * sizes["agents"]), str(sizes["messages"])]
        out = subprocess.run(
            [sys.executable, "-m", "bench.server", "--child", *args],
            cwd=REPO,
            env=serve_env(Path(home), base_url),
            capture_output=True,
            text=True,
            check=True,
        )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# ------------------------------------------------------------------ figures


def measure(users: int, agents: int, messages: int, streams: int, serial: int) -> list[Figure]:
    sizes = {"users": users, "agents": agents, "messages": messages, "streams": streams, "serial": serial}
    with separate_fake_server() as base_url, tempfile.TemporaryDirectory(prefix="memgpt-bench-serve-") as tmp:
        home = Path(tmp)
        home.chmod(0o700)
        env = serve_env(home, base_url)
        tokens = [add_user(env, f"user{n}") for n in range(users)]
        with serving(env) as (url, pid):
            served = asyncio.run(drive_server(url, pid, tokens, sizes))
        inproc = drive_client(base_url, sizes)
    return figures(served, inproc, sizes)


def figures(served: dict[str, Any], inproc: dict[str, Any], sizes: dict[str, int]) -> list[Figure]:
    load = f"load {os.getloadavg()[0]:.2f}"
    k, a, m = sizes["users"], sizes["agents"], sizes["messages"]
    workload = f"{k} users x {a} agents x {m} messages at once, letta-client (AsyncLetta)"
    server_p50 = statistics.median(served["serial"]) * 1000
    client_p50 = statistics.median(inproc["serial"]) * 1000
    concurrent_gap = (statistics.median(served["concurrent"]) - statistics.median(inproc["concurrent"])) * 1000
    added = served["open_agents"] - 1
    per_agent = (served["rss_open"] - served["rss_one"]) / added if added else float("nan")
    done = len(served["concurrent"])
    stream_errors = served["stream_errors"]
    note_errors = f"; first: {stream_errors[0][:120]}" if stream_errors else ""
    return [
        timing(f"server message, one at a time ({sizes['serial']})", served["serial"],
               note=f"messages.create through letta-client, one agent; {load}"),
        timing(f"in-process Client turn, one at a time ({sizes['serial']})", inproc["serial"],
               note="Client.user_message, the same turns on the same fake, a fresh process"),
        Figure("server overhead over the in-process turn", server_p50 - client_p50, "ms", target=3.0,
               note="difference of the medians of the two lines above"),
        timing(f"server message, {k}x{a} agents at once", served["concurrent"],
               note=f"{workload}; {len(served['concurrent_errors'])} errors; {load}"),
        Figure("server messages per second, all users at once", done / served["concurrent_wall"], "msg/s",
               better="higher", note=f"{done} messages in {served['concurrent_wall']:.1f} s"),
        timing(f"in-process Client turn, {k * a} agents at once", inproc["concurrent"],
               note="a thread per agent through one Client"),
        Figure("in-process Client messages per second, all agents at once",
               len(inproc["concurrent"]) / inproc["concurrent_wall"], "msg/s", better="higher"),
        Figure("server overhead, all at once (p50 difference)", concurrent_gap, "ms",
               note="queueing on a shared machine included; reported only"),
        Figure(f"SSE streams at once, errors ({sizes['streams']})", len(stream_errors), "errors", target=0,
               note=f"messages.stream with stream_tokens, one per agent{note_errors}"),
        timing(f"SSE stream to its end, {sizes['streams']} at once", served["stream_seconds"]),
        Figure("server peak RSS", served["rss_peak"], "MB",
               note=f"VmHWM of the serve process; {served['open_agents']} agents open at the end"),
        Figure("server RSS per open idle agent", per_agent, "MB", target=15.0,
               note=f"(RSS with {served['open_agents']} open - RSS with 1 open) / {added}; "
                    f"{served['rss_start']:.0f} MB before any agent, {served['rss_one']:.0f} MB with one"),
    ]  # fmt: skip


def run(quick: bool) -> list[Figure]:
    if quick:
        return measure(users=4, agents=2, messages=5, streams=20, serial=20)
    return measure(users=20, agents=2, messages=25, streams=100, serial=100)


def main(argv: list[str] | None = None) -> list[Figure]:
    return standalone(__doc__, argv, measure, users=20, agents=2, messages=25, streams=100, serial=100)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(client_child(*(int(a) for a in sys.argv[2:5]))))
    else:
        main()
