"""Agents with a long history, made fast and deterministically through the store's own API."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import lancedb
import numpy as np

from memgpt_tui import runtime
from memgpt_tui.config import Settings
from memgpt_tui.model.messages import Message, ToolCall, user_message
from memgpt_tui.store import registry
from memgpt_tui.store.agent_store import LanceAgentStore
from tests.fakes.openai_server import FakeOpenAIServer

from .common import FixedEmbedder, Words, clustered_unit_vectors

LAST_REPLY = "That is everything I remember for now."
IN_CONTEXT_STEPS = 20  # recent steps kept in the agent's context window
HISTORY_COMMITS = 48  # the bulk of a history arrives in this many commits (two compaction rounds)
TAIL_STEPS = 20  # the newest turns, committed one by one
QUIET = 3.0  # seconds without a new table version before the store counts as idle
PASSAGE_BATCH = 50_000


def settings_for(server: FakeOpenAIServer) -> Settings:
    return Settings.load(
        backend="openai-compatible",
        base_url=server.base_url,
        model=server.model,
        no_verify=True,
        context_window=128_000,
    )


def step_messages(step: int, words: Words, reply: str | None = None) -> list[Message]:
    """One finished user turn: the human's message, a send_message call with thoughts, its result."""
    call = ToolCall(
        id=f"call_{step}",
        name="send_message",
        arguments=json.dumps({"message": reply or words.sentence(18)}),
    )
    return [
        user_message(words.sentence(14), step),
        Message(
            role="assistant", kind="assistant", content=words.sentence(10), tool_calls=(call,), step=step
        ),
        Message(
            role="tool",
            kind="tool_result",
            content=json.dumps({"status": "OK", "message": None, "time": "2024-01-01 10:00:00 AM UTC+0000"}),
            tool_call_id=call.id,
            name="send_message",
            step=step,
        ),
    ]


def build_agent(settings: Settings, name: str, *, messages: int, passages: int, seed: int = 1) -> None:
    """Create ``name`` the way the app does, then give it ``messages`` recall messages (whole turns)
    and ``passages`` archival passages with clustered vectors; the head checkpoint holds the last
    turns in context. Returns once the store's background maintenance is done."""
    store, embedder = create_store(settings, name)
    try:
        words = Words(seed)
        recent = add_history(store, messages, words)
        insert_passages(store, passages, seed, words)
        complete_step(store, recent[-3 * IN_CONTEXT_STEPS :], messages // 3)
        store = settle(store, embedder)
    finally:
        store.close()


def create_store(settings: Settings, name: str) -> tuple[LanceAgentStore, FixedEmbedder]:
    """A new agent made by the runtime (boot sequence, first checkpoint), reopened with a
    ``FixedEmbedder`` so passages and queries need no model."""
    asyncio.run(_create(settings, name))
    embedder = FixedEmbedder()
    return registry.open_store(settings.agents_root(), name, embedder), embedder


async def _create(settings: Settings, name: str) -> None:
    agent = await runtime.create_agent(settings, name)
    await agent.close()


def add_history(store: LanceAgentStore, messages: int, words: Words) -> list[str]:
    """Append ``messages`` // 3 finished turns, the last one replying ``LAST_REPLY``; returns the ids.

    The bulk arrives in ``HISTORY_COMMITS`` commits, so the store's own maintenance (compaction and
    index refresh every few dozen commits) runs as it would have over a long use; the last
    ``TAIL_STEPS`` turns are committed one by one, like the steps since that maintenance.
    """
    steps = messages // 3
    bulk = max(0, steps - TAIL_STEPS)
    per_commit = max(1, -(-bulk // HISTORY_COMMITS))
    starts = [*range(1, bulk + 1, per_commit), *range(bulk + 1, steps + 1)]
    ids: list[str] = []
    for first, end in zip(starts, [*starts[1:], steps + 1], strict=True):
        batch = [
            m
            for step in range(first, end)
            for m in step_messages(step, words, LAST_REPLY if step == steps else None)
        ]
        store.append_messages(batch)
        store.sync()
        ids += [m.id for m in batch]
    return ids


def complete_step(store: LanceAgentStore, in_context: list[str], step: int) -> None:
    """Checkpoint what was written, as the engine does after a step; a reopen would roll it back."""
    state = store.head()
    assert state is not None
    state.in_context_ids = state.in_context_ids + in_context
    state.step = step
    store.checkpoint(state, None, "bench data")


def passage_vectors(count: int, seed: int) -> Iterator[np.ndarray]:
    for start in range(0, count, PASSAGE_BATCH):
        yield clustered_unit_vectors(min(PASSAGE_BATCH, count - start), 384, seed + start)


def insert_passages(store: LanceAgentStore, count: int, seed: int, words: Words) -> None:
    """Bulk inserts of ``PASSAGE_BATCH`` passages, as attaching a large data source does."""
    for vectors in passage_vectors(count, seed):
        texts = [words.sentence(24) for _ in range(len(vectors))]
        store.archival_insert_embedded(texts, vectors, [{}] * len(texts))


def settle(store: LanceAgentStore, embedder: FixedEmbedder) -> LanceAgentStore:
    """The store as a later session finds it once its background writer went idle: closed (which
    waits for an index build in flight) and reopened until a whole session changes no table.
    Returns the reopened store."""
    root, name = str(Path(store.uri).parent), store.name
    store.sync()
    for _ in range(8):
        before = table_versions(store.uri)
        wait_quiet(store.uri)
        store.close()
        after = table_versions(store.uri)
        store = registry.open_store(root, name, embedder)
        if after == before:
            break
    wait_quiet(store.uri)
    return store


def table_versions(uri: str) -> dict[str, int]:
    db = lancedb.connect(uri)
    return {name: db.open_table(name).version for name in db.table_names()}


def wait_quiet(uri: str, timeout: float = 900.0) -> None:
    """Wait until no table of the store got a new version for ``QUIET`` seconds."""
    deadline = time.monotonic() + timeout
    versions, since = table_versions(uri), time.monotonic()
    while time.monotonic() - since < QUIET:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the store at {uri} kept writing for {timeout:.0f} s")
        time.sleep(0.25)
        now = table_versions(uri)
        if now != versions:
            versions, since = now, time.monotonic()


def vector_indexed(uri: str) -> tuple[int, int]:
    """Archival rows in the vector index, and rows not in it yet."""
    return indexed_rows(uri, "archival", "vector")


def text_indexed(uri: str, table: str = "archival") -> tuple[int, int]:
    """Rows in the full-text index, and rows not in it yet."""
    return indexed_rows(uri, table, "text")


def indexed_rows(uri: str, table_name: str, column: str) -> tuple[int, int]:
    table = lancedb.connect(uri).open_table(table_name)
    for index in table.list_indices():
        if index.columns == [column]:
            stats = table.index_stats(index.name)
            if stats:
                return stats.num_indexed_rows, stats.num_unindexed_rows
    return 0, table.count_rows()
