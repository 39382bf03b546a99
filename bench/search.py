"""Search latency at scale, through the store as the agent's functions call it.

archival_memory_search: the store's hybrid search (vector + full text, fused) over an archive grown
by bulk inserts, as attaching data sources does, with the ANN index the store builds and refreshes
in the background. Query embedding is excluded: each query's vector is precomputed. Vectors are
synthetic unit vectors clustered around topics (uniform random vectors have no neighbours worth
finding). Recall@10 compares the store's ranking with exact cosine search over every vector, for
queries whose words match nothing, so the ranking is the vector index's alone.

conversation_search: full-text search over the recall table of an agent with that many messages,
one and two word queries drawn from the conversation's own vocabulary.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import lancedb
import numpy as np

from memgpt_tui.store.agent_store import LanceAgentStore
from tests.fakes.openai_server import FakeOpenAIServer

from .common import Figure, FixedEmbedder, Words, clustered_unit_vectors, private_home, size_label, timing
from .fixtures import (
    add_history,
    complete_step,
    create_store,
    insert_passages,
    settings_for,
    settle,
    text_indexed,
    vector_indexed,
)
from .report import standalone

WARMUP = 5
BUDGET = 60.0  # seconds of measuring per figure; at least MIN_QUERIES run whatever they cost
MIN_QUERIES = 10


def timed(call: Callable[[str], object], queries: Sequence[str]) -> list[float]:
    for query in queries[:WARMUP]:
        call(query)
    seconds: list[float] = []
    stop = time.monotonic() + BUDGET
    for query in queries:
        if len(seconds) >= MIN_QUERIES and time.monotonic() > stop:
            break
        start = time.perf_counter()
        call(query)
        seconds.append(time.perf_counter() - start)
    return seconds


def exact_top(uri: str, queries: np.ndarray, k: int) -> list[set[str]]:
    """The ``k`` nearest passages of each query by cosine similarity, over every vector."""
    data = lancedb.connect(uri).open_table("archival").to_arrow()
    ids = np.asarray(data["id"].to_pylist())
    vectors = data["vector"].combine_chunks().flatten().to_numpy().reshape(len(ids), -1)
    found = []
    for start in range(0, len(queries), 16):
        sims = queries[start : start + 16] @ vectors.T
        found += [set(ids[row]) for row in np.argpartition(-sims, k, axis=1)[:, :k]]
    return found


def archival(sizes: Sequence[int], queries: int) -> list[Figure]:
    figures = []
    with private_home("archival"), FakeOpenAIServer() as server:
        store, embedder = create_store(settings_for(server), "archive")
        words = Words(3)
        try:
            for size in sizes:
                insert_passages(
                    store, size - store.archival_count(), seed=store.archival_count(), words=words
                )
                complete_step(store, [], 1)
                store = settle(store, embedder)
                figures += archival_figures(store, embedder, words, size, queries)
        finally:
            store.close()
    return figures


def archival_figures(
    store: LanceAgentStore, embedder: FixedEmbedder, words: Words, size: int, count: int
) -> list[Figure]:
    vectors = clustered_unit_vectors(count, embedder.dim, seed=999_999)
    hybrid = [f"{words.rare(3)} #{i}" for i in range(count)]
    vector_only = [f"qqxj{i}" for i in range(count)]  # no passage has these words
    for text, vector in zip(hybrid + vector_only, np.concatenate([vectors, vectors]), strict=True):
        embedder.queries[text] = vector
    seconds = timed(lambda q: store.archival_search(q, 0, 5), hybrid)
    answers: list[set[str]] = []
    timed(lambda q: answers.append({p.id for p in store.archival_search(q, 0, 10).items}), vector_only)
    exact = exact_top(store.uri, vectors[: len(answers) - WARMUP], 10)
    recall = np.mean([len(got & truth) / 10 for got, truth in zip(answers[WARMUP:], exact, strict=True)])
    vectors_in, vectors_out = vector_indexed(store.uri)
    texts_in, texts_out = text_indexed(store.uri)
    note = (
        f"{len(seconds)} queries; indexed: {vectors_in:,} vectors ({vectors_out:,} not yet), "
        f"{texts_in:,} texts ({texts_out:,} not yet)"
    )
    label = size_label(size)
    return [
        timing(
            f"archival search p50, {label} passages", seconds, 20.0 if size >= 1_000_000 else None, note=note
        ),
        Figure(f"archival recall@10, {label} passages", float(recall), "", None, 0.95, better="higher"),
    ]


def conversation(messages: int, queries: int) -> list[Figure]:
    with private_home("recall"), FakeOpenAIServer() as server:
        store, embedder = create_store(settings_for(server), "recall")
        try:
            words = Words(5)
            add_history(store, messages, words)
            complete_step(store, [], messages // 3)
            store = settle(store, embedder)
            asked = [words.rare(1 + i % 2) for i in range(queries)]
            seconds = timed(lambda q: store.search_messages(q, 0, 5), asked)
            texts_in, texts_out = text_indexed(store.uri, "messages")
        finally:
            store.close()
    note = f"{len(seconds)} one and two word queries; {texts_in:,} texts indexed ({texts_out:,} not yet)"
    return [timing(f"conversation_search p50, {size_label(messages)} messages", seconds, 20.0, note=note)]


def both(passages: Sequence[int], messages: int, queries: int) -> list[Figure]:
    return archival(passages, queries) + conversation(messages, queries)


def run(quick: bool) -> list[Figure]:
    return both([20_000], 10_000, 30) if quick else both([100_000, 1_000_000], 100_000, 200)


def main(argv: list[str] | None = None) -> list[Figure]:
    return standalone(__doc__, argv, both, passages=[100_000, 1_000_000], messages=100_000, queries=200)


if __name__ == "__main__":
    main()
